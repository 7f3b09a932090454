/// Where the Llama family's weights (Llama 2 and 3.x, SmolLM2, Qwen2) are in a checkpoint: the
/// Hugging Face names (without the `model.` prefix, as `TensorDirectory` keys them) and the GGUF
/// names llama.cpp's converter writes. Biases are optional in both (Qwen2 has q/k/v biases).
struct LlamaTensorNames: Sendable {
    /// The names of one transformer layer's tensors.
    struct Layer: Sendable {
        var attentionNorm, query, key, value, output: String
        var queryBias, keyBias, valueBias, outputBias: String
        var feedForwardNorm, gate, up, down: String
        var gateBias, upBias, downBias: String
    }

    var tokenEmbeddings, finalNorm, outputHead: String
    /// Llama 3.x RoPE frequency divisors (GGUF only; Hugging Face configs carry `rope_scaling`).
    var ropeFrequencies: String?
    var layer: @Sendable (Int) -> Layer

    /// `model.*` of a Hugging Face `LlamaForCausalLM` / `Qwen2ForCausalLM` checkpoint.
    static let huggingFace = LlamaTensorNames(
        tokenEmbeddings: "embed_tokens.weight", finalNorm: "norm.weight", outputHead: "lm_head.weight", ropeFrequencies: nil
    ) { index in
        let base = "layers.\(index)."
        return Layer(
            attentionNorm: base + "input_layernorm.weight", query: base + "self_attn.q_proj.weight",
            key: base + "self_attn.k_proj.weight", value: base + "self_attn.v_proj.weight", output: base + "self_attn.o_proj.weight",
            queryBias: base + "self_attn.q_proj.bias", keyBias: base + "self_attn.k_proj.bias", valueBias: base + "self_attn.v_proj.bias",
            outputBias: base + "self_attn.o_proj.bias", feedForwardNorm: base + "post_attention_layernorm.weight",
            gate: base + "mlp.gate_proj.weight", up: base + "mlp.up_proj.weight", down: base + "mlp.down_proj.weight",
            gateBias: base + "mlp.gate_proj.bias", upBias: base + "mlp.up_proj.bias", downBias: base + "mlp.down_proj.bias")
    }

    /// A GGUF file of architecture `llama` or `qwen2`.
    static let gguf = LlamaTensorNames(
        tokenEmbeddings: "token_embd.weight", finalNorm: "output_norm.weight", outputHead: "output.weight",
        ropeFrequencies: "rope_freqs.weight"
    ) { index in
        let base = "blk.\(index)."
        return Layer(
            attentionNorm: base + "attn_norm.weight", query: base + "attn_q.weight", key: base + "attn_k.weight",
            value: base + "attn_v.weight", output: base + "attn_output.weight", queryBias: base + "attn_q.bias",
            keyBias: base + "attn_k.bias", valueBias: base + "attn_v.bias", outputBias: base + "attn_output.bias",
            feedForwardNorm: base + "ffn_norm.weight", gate: base + "ffn_gate.weight", up: base + "ffn_up.weight",
            down: base + "ffn_down.weight", gateBias: base + "ffn_gate.bias", upBias: base + "ffn_up.bias", downBias: base + "ffn_down.bias")
    }
}
