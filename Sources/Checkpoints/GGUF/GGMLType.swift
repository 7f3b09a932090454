import Numerics

/// Element types of GGUF tensors: ggml's `ggml_type` ids, as llama.cpp's gguf-py lists them.
///
/// Ids 4 and 5 (the removed Q4_2 and Q4_3) and 31 to 33 and 36 to 38 (repacked Q4_0 and IQ4_NL variants
/// that llama.cpp no longer stores in files) have no case; a file that uses them is rejected on open.
/// Quantised types store `blockSize` consecutive elements of a row in `blockBytes` bytes; a row's length
/// (`ne[0]`) is always a whole number of blocks.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// ggml's name for the type: "F32", "Q4_1", "Q6_K", "IQ2_XXS", ...
    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_k: return "Q2_K"
        case .q3_k: return "Q3_K"
        case .q4_k: return "Q4_K"
        case .q5_k: return "Q5_K"
        case .q6_k: return "Q6_K"
        case .q8_k: return "Q8_K"
        case .iq2_xxs: return "IQ2_XXS"
        case .iq2_xs: return "IQ2_XS"
        case .iq3_xxs: return "IQ3_XXS"
        case .iq1_s: return "IQ1_S"
        case .iq4_nl: return "IQ4_NL"
        case .iq3_s: return "IQ3_S"
        case .iq2_s: return "IQ2_S"
        case .iq4_xs: return "IQ4_XS"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .f64: return "F64"
        case .iq1_m: return "IQ1_M"
        case .bf16: return "BF16"
        case .tq1_0: return "TQ1_0"
        case .tq2_0: return "TQ2_0"
        case .mxfp4: return "MXFP4"
        case .nvfp4: return "NVFP4"
        case .q1_0: return "Q1_0"
        }
    }

    /// Elements per block: 1 for plain types, 32 for Q4_0 to Q8_1, IQ4_NL and MXFP4, 256 for K-quants.
    public var blockSize: Int { layout.elements }

    /// Bytes per block (bytes per element for plain types).
    public var blockBytes: Int { layout.bytes }

    /// Whether `GGUFFile.tensor(named:)` converts this type to Float32: F32, F16, BF16, F64, Q8_0,
    /// Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q4_K, Q5_K, Q6_K, Q8_K (what Q4_K_M, Q5_K_M and Q6_K
    /// files use).
    public var dequantises: Bool {
        switch self {
        case .f32, .f64, .q8_k: return true
        default: return QuantizedMatrix.Format(rawValue: Int32(rawValue)) != nil
        }
    }

    /// (elements, bytes) per block: ggml-common.h's block structs, as gguf-py's GGML_QUANT_SIZES has them.
    private var layout: (elements: Int, bytes: Int) {
        let k = 256
        switch self {
        case .f32, .i32: return (1, 4)
        case .f16, .bf16, .i16: return (1, 2)
        case .f64, .i64: return (1, 8)
        case .i8: return (1, 1)
        case .q4_0: return (32, 2 + 16)
        case .q4_1: return (32, 2 + 2 + 16)
        case .q5_0: return (32, 2 + 4 + 16)
        case .q5_1: return (32, 2 + 2 + 4 + 16)
        case .q8_0: return (32, 2 + 32)
        case .q8_1: return (32, 4 + 4 + 32)
        case .q2_k: return (k, 2 + 2 + k / 16 + k / 4)
        case .q3_k: return (k, 2 + k / 4 + k / 8 + 12)
        case .q4_k: return (k, 2 + 2 + k / 2 + 12)
        case .q5_k: return (k, 2 + 2 + k / 2 + k / 8 + 12)
        case .q6_k: return (k, 2 + k / 2 + k / 4 + k / 16)
        case .q8_k: return (k, 4 + k + k / 8)
        case .iq2_xxs: return (k, 2 + k / 4)
        case .iq2_xs: return (k, 2 + k / 4 + k / 32)
        case .iq3_xxs: return (k, 2 + k / 4 + k / 8)
        case .iq1_s: return (k, 2 + k / 8 + k / 16)
        case .iq4_nl: return (32, 2 + 16)
        case .iq3_s: return (k, 2 + k / 4 + k / 8 + k / 32 + 4)
        case .iq2_s: return (k, 2 + k / 4 + k / 16)
        case .iq4_xs: return (k, 2 + 2 + k / 2 + k / 64)
        case .iq1_m: return (k, k / 8 + k / 16 + k / 32)
        case .tq1_0: return (k, 2 + 4 * 13)
        case .tq2_0: return (k, 2 + 64)
        case .mxfp4: return (32, 1 + 16)
        case .nvfp4: return (64, 4 + 32)
        case .q1_0: return (128, 2 + 16)
        }
    }
}
