/// What the daemon understood from one message of the user.
public struct Understanding: Sendable, Equatable {
    /// What the user asked for, in their words with filler removed ("lighter", "for a ten year old").
    public var preferences: [String] = []
    /// What the user does not want, in their words ("horror", "star wars").
    public var exclusions: [String] = []
    /// Catalog facets the preferences name (normalised, `FacetVocabulary`).
    public var wantedFacets: [String] = []
    /// Catalog facets the exclusions name, plus those a stated audience rules out.
    public var excludedFacets: [String] = []
    /// How the message refers to the last item of the history ("than the last one": contrast,
    /// "like the last one": similar), if it does.
    public var reference: Reference?

    public enum Reference: String, Sendable, Equatable {
        case similarToLast = "similar-to-last"
        case differentFromLast = "different-from-last"
    }

    public init(
        preferences: [String] = [], exclusions: [String] = [], wantedFacets: [String] = [], excludedFacets: [String] = [],
        reference: Reference? = nil
    ) {
        self.preferences = preferences
        self.exclusions = exclusions
        self.wantedFacets = wantedFacets
        self.excludedFacets = excludedFacets
        self.reference = reference
    }

    /// Exclusion phrases that name no facet: matched against item titles instead ("no more Star Wars").
    public var titleExclusions: [String] { exclusions.filter { !$0.isEmpty } }
}

/// Reads a user's message into preferences and exclusions, without a model: the message is split
/// into clauses (sentences, commas, "but", "and"), a negation cue ("no more", "not", "without",
/// "avoid", "enough", ...) turns the rest of its clause into an exclusion, and so does a list that
/// continues it ("avoid lotion and perfume"; not "no horror and something funny", not across "but"
/// or a sentence end); filler words ("something", "show me", "please") are dropped, and facets are
/// found with the catalog's `FacetVocabulary`.
/// Deterministic and cheap (microseconds); the encoder and the LM do the fuzzy part downstream.
public struct MessageInterpreter: Sendable {
    public let vocabulary: FacetVocabulary

    public init(vocabulary: FacetVocabulary) { self.vocabulary = vocabulary }

    public func interpret(_ message: String) -> Understanding {
        var understood = Understanding()
        // Clauses are normalised to lower case; titles written capitalised are found before that.
        let titles = vocabulary.writtenTitles(in: message)
        for clause in Self.clauses(of: message) {
            var words = clause.words
            if let reference = Self.reference(in: &words) { understood.reference = reference }
            var (wanted, unwanted) = Self.splitAtNegation(words)
            if clause.continuesNegation && unwanted.isEmpty && !Self.startsANewWish(wanted) {
                (wanted, unwanted) = ([], wanted)
            }
            let preference = Self.content(of: wanted)
            let exclusion = Self.content(of: unwanted)
            if !preference.isEmpty {
                understood.preferences.append(preference)
                for facet in vocabulary.facets(in: preference, besides: titles) where !understood.wantedFacets.contains(facet) {
                    understood.wantedFacets.append(facet)
                }
            }
            if !exclusion.isEmpty {
                let facets = vocabulary.facets(in: exclusion, besides: titles)
                if facets.isEmpty {
                    understood.exclusions.append(exclusion)
                } else {
                    understood.exclusions.append(exclusion)
                    for facet in facets where !understood.excludedFacets.contains(facet) { understood.excludedFacets.append(facet) }
                }
            }
        }
        for facet in vocabulary.impliedExclusions(of: understood.wantedFacets)
        where !understood.excludedFacets.contains(facet) && !understood.wantedFacets.contains(facet) {
            understood.excludedFacets.append(facet)
        }
        understood.wantedFacets.removeAll { understood.excludedFacets.contains($0) }
        return understood
    }

    /// One clause of a message: its normalised words, and whether it continues a negated list
    /// ("avoid lotion and perfume": "perfume" continues "avoid lotion").
    struct Clause: Equatable {
        var words: [String]
        var continuesNegation: Bool
    }

    /// The message's clauses: sentences end at `.`, `!`, `?`, `;` and line breaks; within one,
    /// commas and the conjunctions "and", "or", "nor", "plus", "also" separate clauses that may
    /// continue a negation, and "but", "though", "although", "instead" separate ones that never do.
    static func clauses(of message: String) -> [Clause] {
        var clauses: [Clause] = []
        for sentence in message.split(whereSeparator: { ".!?;\n".contains($0) }) {
            var negated = false
            var continuing = false
            for part in sentence.split(separator: ",") {
                var current: [String] = []
                func close() {
                    guard !current.isEmpty else { return }
                    clauses.append(Clause(words: current, continuesNegation: continuing && negated))
                    let hasCue = splitAtNegation(current).unwanted.isEmpty == false || startsWithCue(current)
                    negated = hasCue || (continuing && negated && !startsANewWish(current))
                    current = []
                }
                for word in FacetVocabulary.normalise(String(part)).split(separator: " ").map(String.init) {
                    if ["and", "or", "nor", "plus", "also"].contains(word) {
                        close()
                        continuing = true
                    } else if ["but", "though", "although", "instead", "however"].contains(word) {
                        close()
                        negated = false
                        continuing = false
                    } else {
                        current.append(word)
                    }
                }
                close()
                continuing = true
            }
        }
        return clauses
    }

    /// Whether a clause begins with a negation cue (and so has nothing before it).
    private static func startsWithCue(_ words: [String]) -> Bool {
        negationCues.contains { cue in words.count >= cue.count && Array(words[0..<cue.count]) == cue }
    }

    /// Whether a clause starts a new wish rather than continuing a list ("something", "a", "I").
    static func startsANewWish(_ words: [String]) -> Bool {
        guard let first = words.first else { return false }
        return ["something", "anything", "i", "id", "im", "maybe", "show", "give", "want", "rather", "prefer", "more", "some", "a",
                "an", "please", "how", "what", "lets", "perhaps", "just", "only"].contains(first)
    }

    /// Finds and removes "than / like / to the last one" (and "previous"/"movie"/"film" variants).
    static func reference(in words: inout [String]) -> Understanding.Reference? {
        for index in words.indices where ["last", "previous"].contains(words[index]) {
            let nouns = ["one", "ones", "few", "movie", "movies", "film", "films", "item", "items", "pick", "picks"]
            guard index + 1 < words.count, nouns.contains(words[index + 1]) else { continue }
            var start = index
            if start > 0 && ["the", "that"].contains(words[start - 1]) { start -= 1 }
            var relation = start > 0 ? words[start - 1] : ""
            if ["than", "like", "to", "from", "as"].contains(relation) { start -= 1 }
            // "similar to", "different from", "unlike", "other than": the word before the relation.
            if start > 0, ["similar", "different", "other", "unlike"].contains(words[start - 1]) {
                relation = words[start - 1]
                start -= 1
            }
            let kind: Understanding.Reference = ["than", "from", "different", "other", "unlike"].contains(relation)
                ? .differentFromLast : .similarToLast
            words.removeSubrange(start...(index + 1))
            return kind
        }
        return nil
    }

    /// The words before the first negation cue, and those after it (empty when there is none).
    static func splitAtNegation(_ words: [String]) -> (wanted: [String], unwanted: [String]) {
        for index in words.indices {
            for cue in negationCues {
                let length = cue.count
                guard index + length <= words.count, Array(words[index..<(index + length)]) == cue else { continue }
                return (Array(words[..<index]), Array(words[(index + length)...]))
            }
        }
        return (words, [])
    }

    /// The content words of a clause part, joined.
    static func content(of words: [String]) -> String {
        words.filter { !fillerWords.contains($0) }.joined(separator: " ")
    }

    /// Negation cues, longest first so that "no more" wins over "no".
    static let negationCues: [[String]] = [
        ["i", "dont", "want"], ["i", "do", "not", "want"], ["no", "more"], ["no", "longer"], ["tired", "of"], ["sick", "of"],
        ["none", "of"], ["do", "not"], ["dont"], ["not"], ["no"], ["without"], ["nothing"], ["never"], ["avoid"], ["except"],
        ["hate"], ["enough"], ["skip"], ["less"], ["fewer"], ["stop"],
    ].sorted { $0.count > $1.count }

    /// Words that carry no preference.
    static let fillerWords: Set<String> = [
        "i", "im", "id", "me", "my", "we", "us", "our", "you", "your", "a", "an", "the", "some", "something", "anything", "one",
        "ones", "thing", "things", "stuff", "want", "wanna", "would", "like", "love", "please", "show", "give", "recommend",
        "suggest", "find", "get", "see", "watch", "watching", "to", "of", "with", "that", "this", "is", "are", "be", "more",
        "maybe", "perhaps", "really", "very", "just", "now", "again", "today", "tonight", "for", "in", "on", "about", "movie",
        "movies", "film", "films", "item", "items", "can", "could", "how", "what", "which", "any", "other", "else", "ok",
        "okay", "so", "too", "it", "its", "them", "those", "these", "kind", "sort", "lets", "let", "try", "have", "has",
        "there", "here", "am", "was", "were", "will", "should", "much", "bit", "little", "than", "instead", "actually", "well", "hmm", "ever", "anymore", "all", "please", "hey", "hi", "thanks",
    ]
}
