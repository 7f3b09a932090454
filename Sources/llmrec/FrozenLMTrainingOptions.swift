import ArgumentParser
import JSON
import Models
import Numerics

extension TrainingPrecision: ExpressibleByArgument {}

/// What every command that trains through the frozen LM takes: its threads and the arithmetic of
/// the LM's products.
struct FrozenLMTrainingOptions: ParsableArguments {
    @Option(help: "Threads of the LM's products (OpenBLAS's and the bf16 kernels').") var blasThreads = 2

    @Option(help: ArgumentHelp(
        "Arithmetic of the LM's products: f32 (default) or bf16 (bfloat16 inputs, Float32 sums; AVX-512 BF16 only, slower than f32 on the hosts measured).",
        valueName: "bf16|f32"))
    var precision: TrainingPrecision = .float32

    func validate() throws {
        guard blasThreads >= 1 else { throw ValidationError("--blas-threads must be positive") }
        if precision == .bfloat16 && !BF16Matrix.supported {
            throw ValidationError("--precision bf16 needs AVX-512 BF16, which this CPU lacks; use --precision f32")
        }
    }

    /// Sets OpenBLAS's threads (process-wide); call before any product.
    func configureThreads() { BLAS.setThreads(blasThreads) }

    /// What ran the products, for summaries: the precision and OpenBLAS's kernels
    /// (`{"precision": "bf16", "blas": "SkylakeX"}`).
    var kernels: JSONValue { .object(["precision": .string(precision.rawValue), "blas": .string(BLAS.core)]) }

    /// `decoder` ready for training in this arithmetic on these threads.
    func trainingDecoder(_ decoder: CausalDecoder) -> CausalDecoder { decoder.trainingWeights(precision, threads: blasThreads) }
}
