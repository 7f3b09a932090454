import ArgumentParser
import Datasets
import Foundation
import JSON
import Models
import Numerics

struct LMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm", abstract: "Run a language model (GGUF Llama, or a Hugging Face Llama/OPT directory).",
        subcommands: [LMGenerateCommand.self, LMScoreCommand.self])
}

/// Options shared by the `lm` subcommands.
struct LMModelOptions: ParsableArguments {
    @Option(help: "A GGUF file or a Hugging Face model directory (default: the fetched SmolLM2-135M-Instruct).")
    var model: String = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Flag(help: "Wrap the prompt in the model's chat template (ChatML for SmolLM2).")
    var chat = false

    @Option(help: "Threads for decoding over quantised weights.")
    var threads = 1

    @Flag(help: "Quantise Float32 weights to Q8_0 at load (a quarter of the memory; GGUF quantised weights stay as they are).")
    var quantize = false

    func load() throws -> LanguageModel {
        BLAS.setThreads(1)
        var model = try LanguageModel.load(model)
        if quantize { model.decoder = model.decoder.quantizedToQ8_0() }
        model.decoder.threads = max(1, threads)
        return model
    }
}

struct LMGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate a continuation, streaming it to stdout.")

    @OptionGroup var options: LMModelOptions
    @Option(help: "The prompt.") var prompt: String
    @Option(help: "Most new tokens.") var maxTokens = 64
    @Flag(help: "Greedy decoding (default: sampling with --temperature/--top-k/--top-p).") var greedy = false
    @Option(help: "Sampling temperature.") var temperature: Float = 0.7
    @Option(help: "Top-k (0: off).") var topK = 40
    @Option(help: "Top-p.") var topP: Float = 0.9
    @Option(help: "Repetition penalty (1: off).") var repetitionPenalty: Float = 1.1
    @Option(help: "Sampling seed.") var seed: UInt64 = 0

    func run() throws {
        do {
            let model = try options.load()
            let text = options.chat ? model.chatPrompt(user: prompt) : prompt
            let ids = model.tokenizer.encode(text, addSpecialTokens: true)
            var generation = GenerationOptions()
            generation.maxNewTokens = maxTokens
            generation.greedy = greedy
            generation.temperature = temperature
            generation.topK = topK
            generation.topP = topP
            generation.repetitionPenalty = repetitionPenalty
            generation.seed = seed
            generation.stopTokens = model.stopTokens
            let started = Date()
            var pending: [UInt8] = []
            var firstToken: Double?
            let generated = try TextGenerator(decoder: model.decoder).generate(prompt: ids, options: generation) { token in
                if firstToken == nil { firstToken = Date().timeIntervalSince(started) }
                if !generation.stopTokens.contains(token) {
                    let piece = model.tokenizer.decodeIncrementally([token], pending: &pending)
                    FileHandle.standardOutput.write(Data(piece.utf8))
                }
                return true
            }
            FileHandle.standardOutput.write(Data((model.tokenizer.finishIncrementalDecoding(&pending) + "\n").utf8))
            let seconds = Date().timeIntervalSince(started)
            let summary: JSONValue = [
                "promptTokens": .integer(ids.count), "generatedTokens": .integer(generated.count),
                "secondsToFirstToken": .number(firstToken ?? seconds), "seconds": .number(seconds),
                "tokensPerSecond": .number(Double(generated.count) / max(seconds, 1e-9)),
            ]
            FileHandle.standardError.write(Data((JSONWriter.compact(summary) + "\n").utf8))
        } catch {
            throw fail(error)
        }
    }
}

struct LMScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Log-likelihood of each continuation after a shared prompt (ranking without decoding).",
        discussion: "Prints one JSON object per continuation, best first: {\"continuation\", \"logLikelihood\", \"tokens\", \"perToken\"}.")

    @OptionGroup var options: LMModelOptions
    @Option(help: "The shared prompt.") var prompt: String
    @Option(help: "A continuation to score (repeatable).") var continuation: [String]

    func validate() throws {
        guard !continuation.isEmpty else { throw ValidationError("give at least one --continuation") }
    }

    func run() throws {
        do {
            let model = try options.load()
            let text = options.chat ? model.chatPrompt(user: prompt) : prompt
            let prefix = model.tokenizer.encode(text, addSpecialTokens: true)
            let encoded = continuation.map { model.tokenizer.encode($0, addSpecialTokens: false) }
            let scores = try TextGenerator(decoder: model.decoder).score(prefix: prefix, continuations: encoded)
            let ranked = zip(continuation, zip(scores, encoded)).sorted { $0.1.0 > $1.1.0 }
            for (text, (score, tokens)) in ranked {
                let line: JSONValue = [
                    "continuation": .string(text), "logLikelihood": .number(score), "tokens": .integer(tokens.count),
                    "perToken": .number(tokens.isEmpty ? 0 : score / Double(tokens.count)),
                ]
                print(JSONWriter.compact(line))
            }
        } catch {
            throw fail(error)
        }
    }
}
