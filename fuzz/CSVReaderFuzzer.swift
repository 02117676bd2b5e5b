// A libFuzzer entry point for the CSV reader and the dataset builder, compiled together with the
// Configuration and DataPipeline sources into one module (see README.md in this folder).

/// A data config for the fuzzer's inputs: columns a, b and c, with every kind skipped so the
/// builder runs on whatever rows survive.
private let fuzzConfig: DataConfig = {
    var errors = BadRowConfig()
    for kind in BadRowKind.allCases where kind != .missingJoinKey && kind != .unknownScene {
        errors[kind] = .skip
    }
    errors.maxLineBytes = 256
    errors.maxSkippedShare = 1
    return DataConfig(
        directory: "", log: "log.csv", scene: SceneConfig(column: "a", values: ["0", "1"]), tasks: ["b"],
        split: SplitConfig(column: "c", trainMax: 1, testMin: 2), userColumn: "a", embeddingDimension: 2,
        features: [FeatureConfig(name: "a"), FeatureConfig(name: "c", encoding: .quantile, buckets: 3)],
        errors: errors)
}()

/// Parses the input under stop and skip policies and builds a dataset. Typed errors are the
/// expected outcome of bad input. Anything else traps, so libFuzzer saves the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for errors in [BadRowConfig(), fuzzConfig.errors] {
        do {
            let table = try CSVReader.parse(bytes: bytes, fileName: "log.csv", errors: errors)
            var config = fuzzConfig
            config.errors = errors
            _ = try DatasetBuilder(config: config, log: table, sideTables: []).build()
        } catch let error as CSVError {
            precondition(!error.description.isEmpty, "CSVError without a message")
        } catch let error as DataError {
            precondition(!error.description.isEmpty, "DataError without a message")
        } catch {
            preconditionFailure("untyped error \(type(of: error)): \(error)")
        }
    }
    return 0
}
