import JSON

// Readers for the two Amazon review releases of the McAuley lab. Field names follow the released
// files; https://amazon-reviews-2023.github.io and the 2018 "amazon_v2" page describe them.

func parseAmazon2023Review(_ root: JSONNode) -> ParsedLine<RawInteraction> {
    guard let user = root.key("user_id") else { return .malformed(reason: "missing user_id") }
    guard let item = root.key("parent_asin") ?? root.key("asin") else {
        return .malformed(reason: "missing parent_asin")
    }
    guard let timestamp = root["timestamp"]?.int else { return .malformed(reason: "missing or non-integer timestamp") }
    return .record(RawInteraction(
        userKey: user, itemKey: item, rating: root["rating"]?.double.map(Float.init), timestampMs: timestamp))
}

func parseAmazon2018Review(_ root: JSONNode) -> ParsedLine<RawInteraction> {
    guard let user = root.key("reviewerID") else { return .malformed(reason: "missing reviewerID") }
    guard let item = root.key("asin") else { return .malformed(reason: "missing asin") }
    guard let seconds = root["unixReviewTime"]?.int else {
        return .malformed(reason: "missing or non-integer unixReviewTime")
    }
    return .record(RawInteraction(
        userKey: user, itemKey: item, rating: root["overall"]?.double.map(Float.init), timestampMs: seconds * 1000))
}

/// 2023 metadata. The description is the `description` list; when that is empty the `features`
/// list stands in for it (many 2023 items only have features), so the catalog text is not empty.
func parseAmazon2023Meta(_ root: JSONNode) -> ParsedLine<RawItem> {
    guard let item = root.key("parent_asin") else { return .malformed(reason: "missing parent_asin") }
    var description = root.strings("description")
    if description.allSatisfy({ $0.allSatisfy(\.isWhitespace) }) { description = root.strings("features") }
    var metadata = JSONObject()
    copy(root, "main_category", as: "mainCategory", into: &metadata)
    copy(root, "store", as: "store", into: &metadata)
    copy(root, "price", as: "price", into: &metadata)
    copy(root, "average_rating", as: "averageRating", into: &metadata)
    copy(root, "rating_number", as: "ratingCount", into: &metadata)
    copy(root, "categories", as: "categories", into: &metadata)
    copy(root, "details", as: "details", into: &metadata)
    return .record(RawItem(itemKey: item, title: root["title"]?.string, descriptionParts: description, metadata: metadata))
}

func parseAmazon2018Meta(_ root: JSONNode) -> ParsedLine<RawItem> {
    guard let item = root.key("asin") else { return .malformed(reason: "missing asin") }
    var metadata = JSONObject()
    copy(root, "brand", as: "brand", into: &metadata)
    copy(root, "price", as: "price", into: &metadata)
    copy(root, "category", as: "categories", into: &metadata)
    copy(root, "main_cat", as: "mainCategory", into: &metadata)
    return .record(RawItem(
        itemKey: item, title: root["title"]?.string, descriptionParts: root.strings("description"), metadata: metadata))
}

/// Copies a member that carries information (not null, not an empty string, array or object),
/// cleaning the text of every string inside it.
private func copy(_ root: JSONNode, _ name: String, as key: String, into metadata: inout JSONObject) {
    guard let member = root[name], let value = cleanedMetadata(member.value) else { return }
    metadata[key] = value
}

private func cleanedMetadata(_ value: JSONValue) -> JSONValue? {
    switch value {
    case .null: return nil
    case .string(let text):
        let cleaned = TextCleaner.clean(text, limit: 500)
        return cleaned.isEmpty || cleaned == "None" ? nil : .string(cleaned)
    case .array(let elements):
        let kept = elements.compactMap(cleanedMetadata)
        return kept.isEmpty ? nil : .array(kept)
    case .object(let object):
        var kept = JSONObject()
        for member in object.members {
            if let value = cleanedMetadata(member.value) { kept[member.key] = value }
        }
        return kept.isEmpty ? nil : .object(kept)
    default: return value
    }
}
