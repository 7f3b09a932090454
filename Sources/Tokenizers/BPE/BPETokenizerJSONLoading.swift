extension ByteLevelBPETokenizer {
    /// Loads a Hugging Face `tokenizer.json` with a byte-level BPE model.
    ///
    /// Understood: `model` of type BPE (`vocab`, `merges` as "a b" strings or `[a, b]` pairs,
    /// `unk_token`, `ignore_merges`); `added_tokens` (`special`, `lstrip`, `rstrip`; ids inside the
    /// vocabulary, or right after it without gaps); `normalizer` null; `pre_tokenizer` one of
    /// `ByteLevel` (GPT-2 regex), `Sequence[Split(GPT-2 or Llama 3 regex, Isolated), ByteLevel(no
    /// regex)]`, `Sequence[Digits(individual_digits), ByteLevel]` (SmolLM2); `decoder` ByteLevel or
    /// null; `post_processor` null, ByteLevel, RobertaProcessing, TemplateProcessing (its `single`
    /// template) or a Sequence of these. Truncation and padding are ignored.
    ///
    /// - bosToken, eosToken: the texts `tokenizer_config.json` names, which `tokenizer.json` does not
    ///   carry; they set `bosID` and `eosID`. Without `bosToken`, `bosID` is the template's first
    ///   special token, if any.
    /// - Throws: `.fileNotFound`, `.unreadable`, `.malformedTokenizerJSON`, `.malformedVocabulary`,
    ///   `.malformedMerges`, `.unsupported` (another model, a normaliser, another regex, byte
    ///   fallback, ...), `.missingSpecialToken`.
    public init(tokenizerJSONPath path: String, bosToken: String? = nil, eosToken: String? = nil)
        throws(ByteLevelBPEError)
    {
        do {
            self = try TokenizerJSON(path: path).tokenizer(bosToken: bosToken, eosToken: eosToken)
        } catch let error as ByteLevelBPEError {
            throw error
        } catch let error as TokenizerError {
            throw ByteLevelBPEError(error)
        } catch {
            throw .malformedTokenizerJSON(path: path, reason: "\(error)")
        }
    }
}

/// Reads the parts of a `tokenizer.json` a byte-level BPE tokenizer needs. Its methods throw
/// `ByteLevelBPEError`, or `TokenizerError` from the shared JSON field accessors.
private struct TokenizerJSON {
    let path: String
    let root: JSONFields

    init(path: String) throws {
        self.path = path
        let malformed = { (reason: String) in TokenizerError.malformedTokenizerJSON(path: path, reason: reason) }
        root = JSONFields(object: try FileAccess.jsonObject(at: path, malformed: malformed), location: "",
                          malformed: malformed)
    }

    private func malformed(_ reason: String) -> ByteLevelBPEError {
        .malformedTokenizerJSON(path: path, reason: reason)
    }

    private func unsupported(_ feature: String) -> ByteLevelBPEError {
        .unsupported(source: path, feature: feature)
    }

    func tokenizer(bosToken: String?, eosToken: String?) throws -> ByteLevelBPETokenizer {
        let model = try root.object("model")
        try checkModel(model)
        var tokens = try ByteLevelBPETokenizer.tokensByID(try model.object("vocab").object, source: path)
        var ids: [String: Int32] = [:]
        for (id, token) in tokens.enumerated() { ids[token] = Int32(id) }
        let merges = try BPEMerges(pairs: try mergePairs(model), ids: ids, source: path,
                                   entryName: { "model.merges[\($0)]" })
        let added = try addedTokens(extending: &tokens)
        for (token, id) in added where ids[token.content] == nil { ids[token.content] = id }

        if !root.isNull("normalizer") {
            throw unsupported("normalizer \(try root.object("normalizer").optionalString("type") ?? "untyped")")
        }
        let (preTokenizer, addPrefixSpace) = try preTokenizer()
        if let decoder = try root.optionalObject("decoder"), try decoder.optionalString("type") != "ByteLevel" {
            throw unsupported("decoder \(try decoder.optionalString("type") ?? "untyped")")
        }
        let (prefix, suffix) = try template()

        func id(of name: String?) throws -> Int32? {
            guard let name else { return nil }
            guard let id = ids[name] else { throw ByteLevelBPEError.missingSpecialToken(name: name, source: path) }
            return id
        }
        var unknownID: Int32?
        if let unknown = try model.optionalString("unk_token") { unknownID = try id(of: unknown) }
        return try ByteLevelBPETokenizer(
            tokens: tokens, merges: merges, addedTokens: added, preTokenizer: preTokenizer, addPrefixSpace: addPrefixSpace,
            ignoresMerges: try model.bool("ignore_merges", default: false),
            bosID: try id(of: bosToken) ?? prefix.first, eosID: try id(of: eosToken), unknownID: unknownID,
            prefixIDs: prefix, suffixIDs: suffix, source: path)
    }

    /// Rejects BPE settings that change encoding and that this tokenizer does not implement.
    private func checkModel(_ model: JSONFields) throws {
        if let type = try model.optionalString("type"), type != "BPE" { throw unsupported("model type \(type)") }
        if let dropout = model.object["dropout"] as? Double, dropout > 0 { throw unsupported("BPE dropout") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try model.optionalString(key), !affix.isEmpty { throw unsupported("model.\(key) '\(affix)'") }
        }
        if try model.bool("byte_fallback", default: false) { throw unsupported("byte_fallback") }
    }

    /// `model.merges` as pairs: "a b" strings (split at the one space) or `[a, b]` arrays.
    private func mergePairs(_ model: JSONFields) throws -> [(String, String)] {
        var pairs: [(String, String)] = []
        let entries = try model.array("merges")
        pairs.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            if let text = entry as? String {
                let parts = text.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ByteLevelBPEError.malformedMerges(
                        source: path, reason: "model.merges[\(index)]: '\(text)' is not two tokens separated by a space")
                }
                pairs.append((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self)))
            } else if let pair = entry as? [Any], pair.count == 2, let left = pair[0] as? String, let right = pair[1] as? String {
                pairs.append((left, right))
            } else {
                throw ByteLevelBPEError.malformedMerges(
                    source: path, reason: "model.merges[\(index)] is neither a string nor a pair of strings")
            }
        }
        return pairs
    }

    /// `added_tokens` with their ids; those beyond `tokens` are appended to it, and must follow it
    /// without gaps.
    private func addedTokens(extending tokens: inout [String]) throws -> [(token: ByteLevelBPETokenizer.AddedToken, id: Int32)] {
        var added: [(token: ByteLevelBPETokenizer.AddedToken, id: Int32)] = []
        var beyond: [Int: String] = [:]
        for entry in try root.objects("added_tokens") {
            let content = try entry.string("content")
            guard let id = try entry.optionalInteger("id"), (0..<Int(Int32.max)).contains(id) else {
                throw malformed("\(entry.location).id must be an integer from 0 to 2^31-2")
            }
            if try entry.bool("single_word", default: false) {
                throw unsupported("added token '\(content)' with single_word: true")
            }
            // `normalized` is moot: there is no normaliser.
            let token = ByteLevelBPETokenizer.AddedToken(
                content, special: try entry.bool("special", default: false), stripLeft: try entry.bool("lstrip", default: false),
                stripRight: try entry.bool("rstrip", default: false))
            added.append((token, Int32(id)))
            if id >= tokens.count { beyond[id] = content }
        }
        let beyondIDs = beyond.keys.sorted()
        guard beyondIDs.elementsEqual(tokens.count..<(tokens.count + beyondIDs.count)) else {
            throw malformed("added_tokens outside model.vocab must take the ids right after it, without gaps")
        }
        tokens.append(contentsOf: beyondIDs.compactMap { beyond[$0] })
        return added
    }

    /// The pre-tokeniser and whether it adds a prefix space.
    private func preTokenizer() throws -> (ByteLevelBPETokenizer.PreTokenizer, Bool) {
        guard let preTokenizer = try root.optionalObject("pre_tokenizer") else { throw unsupported("a null pre_tokenizer") }
        let steps = try preTokenizer.optionalString("type") == "Sequence"
            ? try preTokenizer.objects("pretokenizers") : [preTokenizer]
        let types = try steps.map { try $0.optionalString("type") ?? "untyped" }
        guard let last = steps.last, types.last == "ByteLevel" else {
            throw unsupported("pre_tokenizer [\(types.joined(separator: ", "))]")
        }
        let usesRegex = try last.bool("use_regex", default: true)
        let addPrefixSpace = try last.bool("add_prefix_space", default: true)
        switch types.count {
        case 1 where usesRegex:
            return (.gpt2, addPrefixSpace)
        case 2 where types[0] == "Digits" && usesRegex && !addPrefixSpace:
            guard try steps[0].bool("individual_digits", default: false) else {
                throw unsupported("pre_tokenizer Digits without individual_digits")
            }
            return (.smolLM, false)
        case 2 where types[0] == "Split" && !usesRegex && !addPrefixSpace:
            let split = steps[0]
            let behavior = try split.optionalString("behavior")
            guard behavior == "Isolated", try !split.bool("invert", default: false) else {
                throw unsupported("pre_tokenizer Split with behavior \(behavior ?? "null") or invert")
            }
            let pattern = try split.object("pattern").optionalString("Regex")
            switch pattern {
            case ByteLevelBPETokenizer.PreTokenizer.gpt2Pattern: return (.gpt2, false)
            case ByteLevelBPETokenizer.PreTokenizer.llama3Pattern: return (.llama3, false)
            case ByteLevelBPETokenizer.PreTokenizer.qwen2Pattern: return (.qwen2, false)
            default: throw unsupported("pre_tokenizer Split pattern \(pattern.map { "'\($0)'" } ?? "(not a regex)")")
            }
        default:
            throw unsupported("pre_tokenizer \(types.joined(separator: ", ")) (use_regex \(usesRegex), add_prefix_space \(addPrefixSpace))")
        }
    }

    /// The ids the `post_processor` puts before and after a single sequence.
    private func template() throws -> (prefix: [Int32], suffix: [Int32]) {
        guard let processor = try root.optionalObject("post_processor") else { return ([], []) }
        let steps = try processor.optionalString("type") == "Sequence" ? try processor.objects("processors") : [processor]
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        for step in steps {
            switch try step.optionalString("type") {
            case "ByteLevel":
                continue
            case "RobertaProcessing":
                prefix += [try roberta(step, "cls")]
                suffix += [try roberta(step, "sep")]
            case "TemplateProcessing":
                let (before, after) = try templateProcessing(step)
                prefix += before
                suffix = after + suffix
            case let type:
                throw unsupported("post_processor \(type ?? "untyped")")
            }
        }
        return (prefix, suffix)
    }

    /// `cls` or `sep` of a `RobertaProcessing`: a `[text, id]` pair.
    private func roberta(_ processor: JSONFields, _ key: String) throws -> Int32 {
        let pair = try processor.array(key)
        guard pair.count == 2, pair[0] is String, let id = pair[1] as? Int, let id32 = Int32(exactly: id) else {
            throw malformed("post_processor.\(key) must be a [token, id] pair")
        }
        return id32
    }

    /// The `single` template of a `TemplateProcessing`: special tokens, sequence A once, special tokens.
    private func templateProcessing(_ processor: JSONFields) throws -> (prefix: [Int32], suffix: [Int32]) {
        let specialTokens = try processor.optionalObject("special_tokens")
        var prefix: [Int32] = []
        var suffix: [Int32] = []
        var seenSequence = false
        for piece in try processor.objects("single") {
            if let sequence = try piece.optionalObject("Sequence") {
                guard try sequence.string("id") == "A", !seenSequence else {
                    throw malformed("post_processor single template must hold sequence A exactly once")
                }
                seenSequence = true
            } else if let special = try piece.optionalObject("SpecialToken") {
                let name = try special.string("id")
                guard let entry = try specialTokens?.optionalObject(name) else {
                    throw malformed("post_processor special_tokens has no entry for '\(name)'")
                }
                let ids = try entry.array("ids")
                let converted = ids.compactMap { ($0 as? Int).flatMap(Int32.init(exactly:)) }
                guard !ids.isEmpty, converted.count == ids.count else {
                    throw malformed("\(entry.location).ids must be a non-empty array of integers")
                }
                if seenSequence { suffix += converted } else { prefix += converted }
            } else {
                throw malformed("\(piece.location) is neither a Sequence nor a SpecialToken")
            }
        }
        guard seenSequence else { throw malformed("post_processor single template has no sequence A") }
        return (prefix, suffix)
    }
}
