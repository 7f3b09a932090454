import ArgumentParser
import JSON
import Models
import Numerics

/// What `--precision` names: one arithmetic, or whichever of the two runs faster on this CPU.
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case f32, bf16, auto
}

/// What every command that trains through the frozen LM takes: its threads and the arithmetic of
/// the LM's products.
struct FrozenLMTrainingOptions: ParsableArguments {
    /// `auto` takes bfloat16 where its kernel measures at least this many times OpenBLAS's speed on
    /// one core, so that hosts where the two are close keep Float32's results.
    static let automaticBF16Speedup = 1.25

    @Option(help: "Threads of the LM's products: OpenBLAS's in f32; in bf16 the bf16 kernels' and the attention heads' (OpenBLAS then keeps one).") var blasThreads = 2

    @Option(help: ArgumentHelp(
        "Arithmetic of the LM's products: f32 (default), bf16 (bfloat16 inputs, Float32 sums; AVX-512 BF16 only), or auto: bf16 where one core multiplies at least \(automaticBF16Speedup)x faster in it than in f32, measured at start (2.0x on an AMD EPYC with AVX-512 BF16, whose training ran 2.2x faster; 0.55x on the Intel hosts measured), else f32.",
        valueName: "f32|bf16|auto"))
    var precision: PrecisionChoice = .f32

    func validate() throws {
        guard blasThreads >= 1 else { throw ValidationError("--blas-threads must be positive") }
        if precision == .bf16 && !BF16Matrix.supported {
            throw ValidationError("--precision bf16 needs AVX-512 BF16, which this CPU lacks; use --precision f32 or auto")
        }
    }

    /// Sets OpenBLAS's threads (process-wide) and settles the arithmetic (`auto` measures both
    /// kernels here); call once, before any product. With bfloat16 products OpenBLAS keeps one
    /// thread: what is left to it (attention's per-head products, the LM head) runs on `threads`
    /// threads of the project's own, and an idle OpenBLAS thread would only spin against them.
    func prepare() -> FrozenLMArithmetic {
        let arithmetic: FrozenLMArithmetic
        switch precision {
        case .f32, .bf16:
            arithmetic = FrozenLMArithmetic(precision: precision == .bf16 ? .bfloat16 : .float32, threads: blasThreads, measuredSpeedup: nil)
        case .auto:
            BLAS.setThreads(1)
            let speedup = BF16Matrix.measuredSpeedup()
            let faster = (speedup ?? 0) >= Self.automaticBF16Speedup
            arithmetic = FrozenLMArithmetic(precision: faster ? .bfloat16 : .float32, threads: blasThreads, measuredSpeedup: speedup)
        }
        BLAS.setThreads(arithmetic.precision == .bfloat16 ? 1 : blasThreads)
        return arithmetic
    }
}

/// The arithmetic and threads a run trains through the frozen LM with, settled once.
struct FrozenLMArithmetic {
    let precision: TrainingPrecision
    let threads: Int
    /// bf16's speed over f32 on this CPU where `--precision auto` measured it (nil without AVX-512
    /// BF16 or when the precision was named).
    let measuredSpeedup: Double?

    /// What ran the products, for summaries: the precision, OpenBLAS's kernels and what `auto`
    /// measured (`{"precision": "bf16", "blas": "SkylakeX", "measuredBF16Speedup": 2.2}`).
    var kernels: JSONValue {
        var fields = JSONObject()
        fields["precision"] = .string(precision.rawValue)
        fields["blas"] = .string(BLAS.core)
        if let measuredSpeedup { fields["measuredBF16Speedup"] = .number((measuredSpeedup * 100).rounded() / 100) }
        return .object(fields)
    }

    /// `decoder` ready for training in this arithmetic on these threads.
    func trainingDecoder(_ decoder: CausalDecoder) -> CausalDecoder { decoder.trainingWeights(precision, threads: threads) }
}
