import ArgumentParser
import Foundation

@main
struct LLMRecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llmrec",
        abstract: "A-LLMRec recommendation toolkit: prepare data, evaluate recommenders.",
        discussion: """
            Data flow: `prepare` turns review dumps (Amazon 2018/2023, RecBole atomic files) into a \
            dataset directory; `eval` measures recommenders on it under the A-LLMRec protocol \
            (20 candidates), a 100-negative protocol and full ranking, overall and for cold and warm items.
            """,
        subcommands: [PrepareCommand.self, TrainCommand.self, TuneCommand.self, ListenCommand.self, ImportCommand.self, EvalCommand.self, InspectCommand.self, EmbedCommand.self, LMCommand.self, ServeCommand.self, StartCommand.self, StatusCommand.self, StopCommand.self, ChatCommand.self, RecommendCommand.self]
    )
}

/// Prints `error` as one line on stderr and exits with status 1: the CLI's way to fail.
func fail(_ error: any Error) -> ExitCode {
    FileHandle.standardError.write(Data("llmrec: error: \(error)\n".utf8))
    return ExitCode(1)
}
