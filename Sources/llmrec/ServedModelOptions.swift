import ArgumentParser
import Models
import Training

/// What a daemon serves: its recommender, bundle, encoder and LM. Shared by `serve` and by `chat`,
/// which passes them on to the daemon it starts.
struct ServedModelOptions: ParsableArguments {
    @Option(help: "Recommender to serve: \(ModelSpecification.knownNames.joined(separator: ", ")).")
    var recommender = "cooccurrence"

    @Option(help: "sentence-transformers model directory: makes catalog/search semantic (embeds the catalog once, cached) and feeds the text path.")
    var encoder: String?

    @Option(help: "Products of the encoder's linear layers: bf16 (the default where the CPU has AVX-512 BF16) or f32.")
    var encoderPrecision: TransformerEncoder.Precision = .fastest

    @Option(help: "A-LLMRec bundle (`llmrec train align|project`): its SASRec serves, its stage 1 feeds the text path, its stage 2 and LM rank shortlists; its encoder and LM are used unless --encoder/--lm name others.")
    var bundle: String?

    @Option(help: "LM that writes the answers of session/message (GGUF file or Hugging Face directory); default: the bundle's.")
    var lm: String?

    @Option(help: "Threads for the LM's token-by-token steps and for OpenBLAS.")
    var lmThreads = 1

    @Option(help: "What the answers call an item: movie, game, book, ...")
    var itemNoun = "item"

    func validate() throws {
        guard lmThreads >= 1 else { throw ValidationError("--lm-threads must be at least 1") }
    }

    /// The same options as `llmrec serve` arguments.
    var serveArguments: [String] {
        var arguments = [
            "--recommender", recommender, "--encoder-precision", encoderPrecision.rawValue, "--lm-threads", String(lmThreads),
            "--item-noun", itemNoun,
        ]
        for (flag, value) in [("--encoder", encoder), ("--bundle", bundle), ("--lm", lm)] {
            if let value { arguments += [flag, value] }
        }
        return arguments
    }
}
