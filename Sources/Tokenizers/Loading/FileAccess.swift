import Checkpoints
import Foundation

/// Reading tokenizer files and picking typed fields out of JSONSerialization's output.
enum FileAccess {
    /// The bytes of the file at `path`.
    static func contents(of path: String) throws(TokenizerError) -> Data {
        do {
            return try ModelFile.contents(of: path)
        } catch .fileNotFound {
            throw .fileNotFound(path: path)
        } catch .unreadable(_, let reason) {
            throw .unreadable(path: path, reason: reason)
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }

    /// The top-level JSON object of the file at `path`; `malformed` builds the error for its file kind.
    static func jsonObject(at path: String, malformed: (String) -> TokenizerError) throws(TokenizerError)
        -> [String: Any]
    {
        let data = try contents(of: path)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw malformed("not valid JSON (\(error))")
        }
        guard let object = parsed as? [String: Any] else { throw malformed("the top level is not a JSON object") }
        return object
    }
}

/// A JSON object with typed accessors whose errors name the field (`model.vocab`) and the file.
struct JSONFields {
    let object: [String: Any]
    /// Dotted path of this object inside the file, empty at the top level.
    let location: String
    let malformed: (String) -> TokenizerError

    private func name(_ key: String) -> String { location.isEmpty ? key : location + "." + key }

    /// Whether `key` is absent or JSON null.
    func isNull(_ key: String) -> Bool {
        object[key] == nil || object[key] is NSNull
    }

    func bool(_ key: String, default value: Bool) throws(TokenizerError) -> Bool {
        try optionalBool(key) ?? value
    }

    /// nil when absent or null.
    func optionalBool(_ key: String) throws(TokenizerError) -> Bool? {
        if isNull(key) { return nil }
        guard let value = object[key] as? Bool else { throw malformed("\(name(key)) must be true, false or null") }
        return value
    }

    /// nil when absent or null.
    func optionalInteger(_ key: String) throws(TokenizerError) -> Int? {
        if isNull(key) { return nil }
        guard let value = object[key] as? Int else { throw malformed("\(name(key)) must be an integer") }
        return value
    }

    /// nil when absent or null.
    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        if isNull(key) { return nil }
        guard let value = object[key] as? String else { throw malformed("\(name(key)) must be a string") }
        return value
    }

    func string(_ key: String) throws(TokenizerError) -> String {
        guard let value = try optionalString(key) else { throw malformed("\(name(key)) is missing") }
        return value
    }

    /// nil when absent or null.
    func optionalObject(_ key: String) throws(TokenizerError) -> JSONFields? {
        if isNull(key) { return nil }
        guard let value = object[key] as? [String: Any] else { throw malformed("\(name(key)) must be an object") }
        return JSONFields(object: value, location: name(key), malformed: malformed)
    }

    func object(_ key: String) throws(TokenizerError) -> JSONFields {
        guard let value = try optionalObject(key) else { throw malformed("\(name(key)) is missing") }
        return value
    }

    func array(_ key: String) throws(TokenizerError) -> [Any] {
        guard let value = object[key] as? [Any] else { throw malformed("\(name(key)) must be an array") }
        return value
    }

    /// The objects of array `key`, each located as `key[i]`; an empty list when absent or null.
    func objects(_ key: String) throws(TokenizerError) -> [JSONFields] {
        if isNull(key) { return [] }
        var result: [JSONFields] = []
        for (index, element) in try array(key).enumerated() {
            guard let object = element as? [String: Any] else {
                throw malformed("\(name(key))[\(index)] must be an object")
            }
            result.append(JSONFields(object: object, location: "\(name(key))[\(index)]", malformed: malformed))
        }
        return result
    }
}
