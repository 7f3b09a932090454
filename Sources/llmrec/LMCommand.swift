import ArgumentParser
import Datasets
import Dispatch
import Foundation
import JSON
import Models
import Numerics
import Support
import Tokenizers

struct LMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm", abstract: "Run a language model (GGUF Llama, or a Hugging Face Llama/OPT directory).",
        subcommands: [LMInfoCommand.self, LMGenerateCommand.self, LMScoreCommand.self, LMBenchCommand.self])
}

struct LMInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "What a model file holds, from its header: architecture, parameters, context, the quantisation mix and the bytes.")

    @Option(help: "A GGUF file or a Hugging Face model directory (default: the fetched SmolLM2-135M-Instruct).")
    var model: String = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let info: LanguageModelInfo
        do { info = try LanguageModelInfo.read(model) } catch { throw fail(error) }
        if json {
            var object: JSONObject = [
                "path": .string(info.path), "container": .string(info.container), "architecture": .string(info.architecture),
                "name": info.name.map { .string($0) } ?? .null, "parameters": .integer(info.parameters),
                "tensorBytes": .integer(info.tensorBytes), "supported": .bool(info.unsupported == nil),
                "types": .array(info.types.map {
                    ["type": .string($0.type), "tensors": .integer($0.tensors), "parameters": .integer($0.parameters), "bytes": .integer($0.bytes)]
                }),
            ]
            let dimensions: [(String, Int?)] = [
                ("contextLength", info.contextLength), ("layers", info.layers), ("hiddenSize", info.hiddenSize), ("heads", info.heads),
                ("keyValueHeads", info.keyValueHeads), ("vocabularySize", info.vocabularySize),
            ]
            for (key, value) in dimensions { object[key] = value.map { .integer($0) } ?? .null }
            if let reason = info.unsupported { object["unsupported"] = .string(reason) }
            print(JSONWriter.compact(.object(object)))
            return
        }
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        func text(_ value: Int?) -> String { value.map(String.init) ?? "?" }
        print("\(info.path): \(info.container), \(info.architecture)\(info.name.map { " (\($0))" } ?? "")")
        print(String(format: "  parameters: %.1f M, tensors: %@", Double(info.parameters) / 1e6, mib(info.tensorBytes)))
        print("  context \(text(info.contextLength)), layers \(text(info.layers)), hidden \(text(info.hiddenSize)), heads \(text(info.heads)) (key/value \(text(info.keyValueHeads))), vocabulary \(text(info.vocabularySize))")
        print("  element types:")
        for share in info.types {
            let percent = 100 * Double(share.bytes) / Double(max(info.tensorBytes, 1))
            print(String(format: "    %-6@ %4d tensors %7.1f M parameters %10@ (%.1f%%)", share.type, share.tensors,
                         Double(share.parameters) / 1e6, mib(share.bytes), percent))
        }
        print(info.unsupported.map { "  this engine cannot run it: \($0)" } ?? "  this engine runs it")
    }
}

/// Options shared by the `lm` subcommands.
struct LMModelOptions: ParsableArguments {
    @Option(help: "A GGUF file or a Hugging Face model directory (default: the fetched SmolLM2-135M-Instruct).")
    var model: String = AssetCache.asset("smollm2-135m") + "/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Flag(help: "Wrap the prompt in the model's chat template (ChatML for SmolLM2).")
    var chat = false

    @Option(help: "Threads for the LM's products over quantised weights (and OpenBLAS in lm bench).")
    var lmThreads = 1

    @Flag(help: "Quantise Float32 weights to Q8_0 at load (a quarter of the memory; GGUF quantised weights stay as they are).")
    var quantize = false

    @Flag(help: "Float32 activations in single-token steps (default for GGUF: 8-bit activations and integer dot products, as llama.cpp).")
    var exact = false

    func load() throws -> LanguageModel {
        BLAS.setThreads(1)
        var model = try LanguageModel.load(model, quantizeToQ8_0: quantize)
        configure(&model.decoder)
        return model
    }

    /// Applies --lm-threads and --exact (--quantize acts while loading).
    func configure(_ decoder: inout CausalDecoder) {
        if exact { decoder.integerActivations = false }
        decoder.threads = max(1, lmThreads)
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
    @Option(help: "Repetition penalty (1: off; default 1 with --greedy, which is argmax as in transformers and llama.cpp, and 1.1 when sampling).")
    var repetitionPenalty: Float?
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
            generation.repetitionPenalty = repetitionPenalty ?? (greedy ? 1 : 1.1)
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
            var model = try options.load()
            // Likelihoods are compared across continuations: Float32 activations throughout.
            model.decoder.integerActivations = false
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

struct LMBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode speed and memory of an LM.",
        discussion: """
            Runs a prompt of --prompt-tokens pseudo-random token ids (seeded, no tokenizer needed, so \
            any decoder directory works) and then --decode-tokens greedy single-token steps, --repeats \
            times, and prints one JSON object: load time, prefill and decode tokens/s (best run), \
            weight bytes, peak resident memory and, for decode, the bandwidth the weights' bytes per \
            token imply. `scripts/bench-lm.py` runs llama.cpp and transformers on the same model.
            """
    )

    @OptionGroup var options: LMModelOptions
    @Option(help: "Prompt length.") var promptTokens = 512
    @Option(help: "Decode steps after the prompt.") var decodeTokens = 128
    @Option(help: "Runs (the best is reported).") var repeats = 3
    @Option(help: "Seed of the prompt's token ids.") var seed: UInt64 = 1
    @Flag(help: "Also measure memory read bandwidth (1 GiB summed by --lm-threads threads) for the decode bound.") var bandwidth = false

    func validate() throws {
        guard promptTokens >= 1, decodeTokens >= 1, repeats >= 1 else { throw ValidationError("token counts and repeats must be positive") }
    }

    func run() throws {
        do {
            let started = Date()
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: options.model, isDirectory: &isDirectory)
            BLAS.setThreads(options.lmThreads)
            var decoder = isDirectory.boolValue
                ? try CausalDecoder.load(huggingFaceDirectory: options.model, quantizeToQ8_0: options.quantize)
                : try LanguageModel.load(options.model).decoder
            options.configure(&decoder)
            let loadSeconds = Date().timeIntervalSince(started)
            let c = decoder.configuration
            guard promptTokens + decodeTokens <= c.maxPositions else {
                throw ValidationError("--prompt-tokens + --decode-tokens exceeds the model's \(c.maxPositions) positions")
            }
            var generator = SplitMix64(seed: seed)
            let prompt = (0..<promptTokens).map { _ in Int32(generator.next() % UInt64(c.vocabularySize)) }
            var bestPrefill = Double.infinity
            var bestDecode = Double.infinity
            for _ in 0..<repeats {
                var cache = KVCache(configuration: c, capacity: promptTokens + decodeTokens)
                let prefillStart = DispatchTime.now().uptimeNanoseconds
                var logits = try decoder.forward(tokens: prompt, cache: &cache)
                bestPrefill = min(bestPrefill, Double(DispatchTime.now().uptimeNanoseconds - prefillStart) / 1e9)
                let decodeStart = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<decodeTokens {
                    let next = Int32(logits.indices.max { logits[$0] < logits[$1] } ?? 0)
                    logits = try decoder.forward(tokens: [next], cache: &cache)
                }
                bestDecode = min(bestDecode, Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9)
            }
            let weightBytes = decoder.weightBytes
            let decodeRate = Double(decodeTokens) / bestDecode
            let summary: JSONValue = [
                "model": .string(options.model), "threads": .integer(options.lmThreads), "integerActivations": .bool(decoder.integerActivations),
                "kernel": .string(["portable", "avx2", "avx512-vnni"][QuantizedMatrix.integerKernelLevel]), "blas": .string(BLAS.core),
                "loadSeconds": .number(loadSeconds), "promptTokens": .integer(promptTokens),
                "prefillSeconds": .number(bestPrefill), "prefillTokensPerSecond": .number(Double(promptTokens) / bestPrefill),
                "decodeTokens": .integer(decodeTokens), "decodeTokensPerSecond": .number(decodeRate),
                "weightBytes": .integer(weightBytes), "decodeWeightGBPerSecond": .number(Double(weightBytes) * decodeRate / 1e9),
                "peakRSSBytes": .integer(peakResidentBytes()),
            ]
            var result = summary
            if bandwidth, case .object(var object) = summary {
                let measured = Self.readBandwidth(threads: options.lmThreads)
                object["memoryReadGBPerSecond"] = .number(measured)
                object["decodeBoundTokensPerSecond"] = .number(measured * 1e9 / Double(weightBytes))
                result = .object(object)
            }
            print(JSONWriter.compact(result))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }

    /// GB/s of summing a 1 GiB buffer with `threads` threads (best of 3): what single-token decoding
    /// can at most stream weights at.
    static func readBandwidth(threads: Int) -> Double {
        let count = 1 << 28
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        let parts = max(1, threads)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: parts)
        defer { sums.deallocate() }
        let shared = BandwidthBuffer(values: buffer, sums: sums)
        var best = Double.infinity
        for _ in 0..<3 {
            let started = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                shared.sum(range: (part * count / parts)..<((part + 1) * count / parts), into: part)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        return Double(count * 4) / best / 1e9
    }
}

/// The buffer `readBandwidth` sums, shared read-only by its threads (each writes its own sum slot).
private struct BandwidthBuffer: @unchecked Sendable {
    let values: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>

    func sum(range: Range<Int>, into slot: Int) {
        var accumulators = SIMD16<Float>(repeating: 0)
        var index = range.lowerBound
        while index + 16 <= range.upperBound {
            accumulators += UnsafeRawPointer(values + index).loadUnaligned(as: SIMD16<Float>.self)
            index += 16
        }
        sums[slot] = accumulators.sum()
    }
}
