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

    /// Which interactions a model is fitted on.
    public enum FitData: Sendable {
        /// The training split only: for evaluation, so held-out items stay unseen.
        case trainingSplit
        /// Every interaction: for serving.
        case everything
    }

    /// Fits the model on the dataset.
    public func build(on dataset: PreparedDataset, using data: FitData = .trainingSplit) -> any SequentialRecommender {
        let sequences = data == .trainingSplit ? dataset.train : dataset.allSequences
        switch self {
        case .popularity: return PopularityRecommender(trainingSequences: sequences, itemCount: dataset.itemCount)
        case .cooccurrence: return CoOccurrenceRecommender(trainingSequences: sequences, itemCount: dataset.itemCount)
        }
    }

    /// The model's name on the command line and in reports.
    public var name: String {
        switch self {
        case .popularity: return "popularity"
        case .cooccurrence: return "cooccurrence"
        }
    }
}
