/// Where OPT's weights are in a Hugging Face checkpoint (`OPTForCausalLM`), without the
/// `model.decoder.` prefix, as `TensorDirectory` keys them. Norms name a prefix: `.weight` and
/// `.bias` follow it.
enum OPTTensorNames {
    /// The names of one decoder layer's tensors.
    struct Layer: Sendable {
        var attentionNorm, query, key, value, output: String
        var queryBias, keyBias, valueBias, outputBias: String
        var feedForwardNorm, up, down, upBias, downBias: String
    }

    static let tokenEmbeddings = "embed_tokens.weight"
    static let positionEmbeddings = "embed_positions.weight"
    /// Present when the word embeddings are narrower than the hidden states (OPT-350m).
    static let projectIn = "project_in.weight"
    static let projectOut = "project_out.weight"
    static let finalNorm = "final_layer_norm"
    static let outputHead = "lm_head.weight"

    static func layer(_ index: Int) -> Layer {
        let base = "layers.\(index)."
        return Layer(
            attentionNorm: base + "self_attn_layer_norm", query: base + "self_attn.q_proj.weight", key: base + "self_attn.k_proj.weight",
            value: base + "self_attn.v_proj.weight", output: base + "self_attn.out_proj.weight", queryBias: base + "self_attn.q_proj.bias",
            keyBias: base + "self_attn.k_proj.bias", valueBias: base + "self_attn.v_proj.bias", outputBias: base + "self_attn.out_proj.bias",
            feedForwardNorm: base + "final_layer_norm", up: base + "fc1.weight", down: base + "fc2.weight", upBias: base + "fc1.bias",
            downBias: base + "fc2.bias")
    }
}
