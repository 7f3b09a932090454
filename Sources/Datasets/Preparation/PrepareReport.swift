import JSON

/// What happened to one input file during `prepare`.
public struct InputFileReport: Sendable {
    public var path: String
    public var lines = 0
    public var records = 0
    /// Blank lines and RecBole headers.
    public var ignored = 0
    public var malformed = 0
    /// The first malformed lines (at most `InputFileReport.sampleLimit`): line number and reason.
    public var malformedSamples: [(line: Int, reason: String)] = []

    public static let sampleLimit = 10

    init(path: String) { self.path = path }

    mutating func recordMalformed(line: Int, reason: String) {
        malformed += 1
        if malformedSamples.count < Self.sampleLimit { malformedSamples.append((line, reason)) }
    }

    var json: JSONValue {
        [
            "path": .string(path), "lines": .integer(lines), "records": .integer(records),
            "ignored": .integer(ignored),
            "malformed": [
                "count": .integer(malformed),
                "first": .array(malformedSamples.map { ["line": .integer($0.line), "reason": .string($0.reason)] }),
            ],
        ]
    }
}

/// Users, items and interactions after one step of `prepare`.
public struct StageCount: Sendable, Equatable {
    public var stage: String
    public var users: Int
    public var items: Int
    public var interactions: Int

    public init(stage: String, users: Int, items: Int, interactions: Int) {
        self.stage = stage
        self.users = users
        self.items = items
        self.interactions = interactions
    }

    var json: JSONValue {
        ["stage": .string(stage), "users": .integer(users), "items": .integer(items), "interactions": .integer(interactions)]
    }
}

/// Everything `prepare` measured; written as `stats.json`.
public struct PrepareReport: Sendable {
    public var format: DatasetFormat
    public var reviews: InputFileReport
    public var meta: InputFileReport?
    /// In order: read, then one entry per filter that ran.
    public var stages: [StageCount] = []
    /// Kept items that had no metadata record at all.
    public var itemsWithoutMetadata = 0
    public var placeholderTitles = 0
    public var placeholderDescriptions = 0
    /// Kept interactions whose timestamp equals that of another interaction of the same user: their
    /// order comes from the tie-break (input line order), not from time.
    public var interactionsWithTiedTimestamps = 0
    /// Users with at least 3 interactions, who therefore have valid and test items.
    public var usersWithHeldOutItems = 0
    /// Items held out of every split for the test split's cold20 cases, and for the validation split's.
    public var coldItemsForTest = 0
    public var coldItemsForValidation = 0

    /// The counts after the last step.
    public var final: StageCount { stages.last ?? StageCount(stage: "read", users: 0, items: 0, interactions: 0) }

    public var json: JSONValue {
        var object: JSONObject = [
            "format": .string(format.rawValue),
            "reviews": reviews.json,
        ]
        if let meta { object["meta"] = meta.json }
        object["stages"] = .array(stages.map(\.json))
        object["text"] = [
            "itemsWithoutMetadata": .integer(itemsWithoutMetadata),
            "placeholderTitles": .integer(placeholderTitles),
            "placeholderDescriptions": .integer(placeholderDescriptions),
        ]
        object["order"] = [
            "tieBreak": "input line order",
            "interactionsWithTiedTimestamps": .integer(interactionsWithTiedTimestamps),
        ]
        object["split"] = [
            "protocol": "leave-one-out",
            "usersWithHeldOutItems": .integer(usersWithHeldOutItems),
            "coldItemsForTest": .integer(coldItemsForTest), "coldItemsForValidation": .integer(coldItemsForValidation),
        ]
        return .object(object)
    }
}
