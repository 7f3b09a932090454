import ArgumentParser
import Models
import Recommender
import Training

/// What a daemon serves: its recommender, bundle, encoder and LM. Shared by `serve` and by `chat`,
/// which passes them on to the daemon it starts. Options not given come from the configuration
/// file (`DaemonSettings`), then from the defaults written in their help.
struct ServedModelOptions: ParsableArguments {
    @Option(help: "Recommender to serve: \(ModelSpecification.knownNames.joined(separator: ", ")) (default cooccurrence).")
    var recommender: String?

    @Option(help: "sentence-transformers model directory: makes catalog/search semantic (embeds the catalog once, cached) and feeds the text path.")
    var encoder: String?

    @Option(help: "Products of the encoder's linear layers: f32 (default) or bf16 (AVX-512 BF16 only; slower than f32 on the hosts measured).")
    var encoderPrecision: TransformerEncoder.Precision?

    @Option(help: "Model bundle (`llmrec train align|project|retrieval`, `llmrec tune`): its SASRec serves, its stage 1 feeds the text path, its retrieval model scores the whole catalog through the LM at the tuned weight (else its stage 2 ranks shortlists); its encoder and LM are used unless --encoder/--lm name others.")
    var bundle: String?

    @Option(help: "LM that writes the answers of session/message (GGUF file or Hugging Face directory); default: the bundle's.")
    var lm: String?

    @Option(help: "Threads for the LM's token-by-token steps and for OpenBLAS (default 1).")
    var lmThreads: Int?

    @Option(help: "What the answers call an item: movie, game, book, ... (default: the bundle's domain, from its retrieval template; else item).")
    var itemNoun: String?

    func validate() throws {
        if let lmThreads, lmThreads < 1 { throw ValidationError("--lm-threads must be at least 1") }
    }

    /// Whether any of these options was given.
    var isEmpty: Bool {
        recommender == nil && encoder == nil && encoderPrecision == nil && bundle == nil && lm == nil && lmThreads == nil && itemNoun == nil
    }

    /// The options given, as `llmrec serve` arguments.
    var serveArguments: [String] {
        var arguments: [String] = []
        let pairs: [(String, String?)] = [
            ("--recommender", recommender), ("--encoder", encoder), ("--encoder-precision", encoderPrecision?.rawValue),
            ("--bundle", bundle), ("--lm", lm), ("--lm-threads", lmThreads.map(String.init)), ("--item-noun", itemNoun),
        ]
        for (flag, value) in pairs {
            if let value { arguments += [flag, value] }
        }
        return arguments
    }

    /// These options over `settings` over the defaults.
    func resolved(over settings: DaemonSettings) -> ServedModelOptions {
        var resolved = self
        resolved.recommender = recommender ?? settings.recommender ?? "cooccurrence"
        resolved.encoder = encoder ?? settings.encoder
        resolved.encoderPrecision = encoderPrecision ?? settings.encoderPrecision ?? .float32
        resolved.bundle = bundle ?? settings.bundle
        resolved.lm = lm ?? settings.lm
        resolved.lmThreads = lmThreads ?? settings.lmThreads ?? 1
        resolved.itemNoun = itemNoun ?? settings.itemNoun
        return resolved
    }
}
