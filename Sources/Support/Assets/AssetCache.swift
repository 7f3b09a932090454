import Foundation

/// Where LLMRec keeps fetched assets and prepared data: `$LLMREC_HOME`, or
/// `${XDG_CACHE_HOME:-~/.cache}/llmrec`. `scripts/fetch-assets.sh` fills `assets/` under it.
public enum AssetCache {
    public static var home: String {
        let environment = ProcessInfo.processInfo.environment
        if let home = environment["LLMREC_HOME"], !home.isEmpty { return home }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.cache")
        return cache + "/llmrec"
    }

    /// The directory of one fetched asset: `minilm-l6-v2`, `smollm2-135m` or `ml-100k`.
    public static func asset(_ name: String) -> String { home + "/assets/" + name }

    /// MovieLens-100K as RecBole atomic files (fetched from the recbole wheel; never committed).
    public static var movieLens100KInteractions: String { asset("ml-100k") + "/ml-100k.inter" }
    public static var movieLens100KItems: String { asset("ml-100k") + "/ml-100k.item" }
}
