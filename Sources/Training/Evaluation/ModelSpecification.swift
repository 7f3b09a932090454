import Datasets
import Models

/// Errors naming a model on the command line.
public enum ModelSpecificationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownModel(String)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            return "unknown model '\(name)' (known: \(ModelSpecification.knownNames.joined(separator: ", ")))"
        }
    }
}

/// A model named on the command line (`--model popularity`), built against a prepared dataset.
public enum ModelSpecification: Sendable, Equatable {
    case popularity
    case cooccurrence

    public static let knownNames = ["popularity", "cooccurrence"]

    public init(parsing text: String) throws(ModelSpecificationError) {
        switch text {
        case "popularity", "pop": self = .popularity
        case "cooccurrence", "co-occurrence", "cooc": self = .cooccurrence
        default: throw .unknownModel(text)
        }
    }

    /// Fits the model on the dataset's training split.
    public func build(on dataset: PreparedDataset) -> any SequentialRecommender {
        switch self {
        case .popularity: return PopularityRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount)
        case .cooccurrence: return CoOccurrenceRecommender(trainingSequences: dataset.train, itemCount: dataset.itemCount)
        }
    }
}
