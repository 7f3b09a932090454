import Datasets
import Models

/// Errors naming a model on the command line.
public enum ModelSpecificationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownModel(String)
    case catalogMismatch(path: String, modelItems: Int, datasetItems: Int)

    public var description: String {
        switch self {
        case .unknownModel(let name):
            return "unknown model '\(name)' (known: \(ModelSpecification.knownNames.joined(separator: ", ")))"
        case .catalogMismatch(let path, let modelItems, let datasetItems):
            return "\(path): the model knows \(modelItems) items, the dataset has \(datasetItems); was it trained on this dataset?"
        }
    }
}

/// A model named on the command line (`--model popularity`, `--model sasrec:FILE`), built against a
/// prepared dataset.
public enum ModelSpecification: Sendable, Equatable {
    case popularity
    case cooccurrence
    /// A trained SASRec checkpoint (`llmrec train sasrec`, or the original's weights as safetensors).
    case sasrec(path: String)

    public static let knownNames = ["popularity", "cooccurrence", "sasrec:FILE"]

    public init(parsing text: String) throws(ModelSpecificationError) {
        switch text {
        case "popularity", "pop": self = .popularity
        case "cooccurrence", "co-occurrence", "cooc": self = .cooccurrence
        case _ where text.hasPrefix("sasrec:") && text.count > "sasrec:".count:
            self = .sasrec(path: String(text.dropFirst("sasrec:".count)))
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

    /// Fits the model on the dataset (baselines), or loads it (trained models, whose fit is fixed).
    public func build(on dataset: PreparedDataset, using data: FitData = .trainingSplit) throws -> any SequentialRecommender {
        let sequences = data == .trainingSplit ? dataset.train : dataset.allSequences
        switch self {
        case .popularity: return PopularityRecommender(trainingSequences: sequences, itemCount: dataset.itemCount)
        case .cooccurrence: return CoOccurrenceRecommender(trainingSequences: sequences, itemCount: dataset.itemCount)
        case .sasrec(let path):
            let model = try SASRecCheckpoint.load(path)
            guard model.configuration.itemCount == dataset.itemCount else {
                throw ModelSpecificationError.catalogMismatch(
                    path: path, modelItems: model.configuration.itemCount, datasetItems: dataset.itemCount)
            }
            return model
        }
    }

    /// The model's name on the command line and in reports.
    public var name: String {
        switch self {
        case .popularity: return "popularity"
        case .cooccurrence: return "cooccurrence"
        case .sasrec: return "sasrec"
        }
    }
}
