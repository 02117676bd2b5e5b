import Foundation

/// Writes a deterministic synthetic multi-scene dataset in the layout the pipeline reads: a log
/// `log.csv` (user_id, item_id, date, scene, click, long_view, like) and side tables `users.csv`
/// (user_id, age_group, gender, activity, city) and `items.csv` (item_id, author_id, category,
/// duration_seconds, duration_bucket, tags).
///
/// Labels come from a hidden model (`SyntheticHiddenModel`): per-scene base rates, user and item
/// latent factors, and feature effects that change with the scene, so a model that gets the
/// scene as input can beat one that does not. The same options give byte-identical files.
public struct SyntheticDataGenerator {
    public static let logFile = "log.csv"
    public static let userFile = "users.csv"
    public static let itemFile = "items.csv"

    public let options: SyntheticDataOptions

    public init(options: SyntheticDataOptions = SyntheticDataOptions()) {
        self.options = options
    }

    /// Writes the three files into `directory`, creating it if needed.
    public func write(to directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError.fileAccess(path: directory, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        var random = SplitMix64(seed: options.seed)
        let model = SyntheticHiddenModel(options: options, random: &random)

        try save(userTable(model), name: Self.userFile, in: directory)
        try save(itemTable(model), name: Self.itemFile, in: directory)
        try save(logTable(model, random: &random), name: Self.logFile, in: directory)
    }

    /// Returns the data config that reads files written by this generator from `directory`:
    /// the last `max(1, days / 7)` days are the test split.
    public static func defaultConfig(directory: String,
                                     options: SyntheticDataOptions = SyntheticDataOptions()) -> DataConfig {
        let testDays = min(max(1, options.days / 7), max(1, options.days - 1))
        let firstTestDay = options.days - testDays
        var features = [
            FeatureConfig(name: "user_id"),
            FeatureConfig(name: "item_id"),
            FeatureConfig(name: "age_group"),
            FeatureConfig(name: "gender"),
            FeatureConfig(name: "activity"),
            FeatureConfig(name: "city"),
            FeatureConfig(name: "author_id", encoding: .hash, hashBuckets: 1_000),
            FeatureConfig(name: "category"),
            FeatureConfig(name: "duration", column: "duration_seconds", encoding: .quantile, buckets: 8),
            FeatureConfig(name: "tag", column: "tags", firstToken: ","),
        ]
        if options.contextIdSpace > 0 {
            features.append(FeatureConfig(name: "context_id", encoding: .hash, hashBuckets: max(2, options.contextIdSpace)))
        }
        features.append(FeatureConfig(name: "scene", encoding: .scene))
        return DataConfig(
            directory: directory, log: logFile,
            joins: [JoinConfig(file: userFile, key: "user_id"), JoinConfig(file: itemFile, key: "item_id")],
            scene: SceneConfig(column: "scene", values: (0..<options.scenes).map { String($0) }),
            tasks: ["click", "long_view", "like"],
            split: SplitConfig(column: "date", trainMax: Double(options.date(ofDay: firstTestDay - 1)),
                               testMin: Double(options.date(ofDay: firstTestDay))),
            userColumn: "user_id", embeddingDimension: 8,
            features: features)
    }

    // MARK: Tables

    private func userTable(_ model: SyntheticHiddenModel) -> [UInt8] {
        var text = CSVTextWriter()
        text.appendLine("user_id,age_group,gender,activity,city")
        for user in 0..<options.users {
            let attributes = model.userAttributes[user]
            text.append(user)
            text.appendComma()
            text.append(attributes.ageGroup)
            text.appendComma()
            text.append(attributes.gender)
            text.appendComma()
            text.append(attributes.activity)
            text.appendComma()
            // Some cities are unknown, so the table has missing values.
            if attributes.city >= 0 { text.append(attributes.city) }
            text.appendNewline()
        }
        return text.bytes
    }

    private func itemTable(_ model: SyntheticHiddenModel) -> [UInt8] {
        var text = CSVTextWriter()
        text.appendLine("item_id,author_id,category,duration_seconds,duration_bucket,tags")
        for item in 0..<options.items where !model.isMissingFromItemTable(item) {
            let attributes = model.itemAttributes[item]
            text.append(item)
            text.appendComma()
            text.append(attributes.author)
            text.appendComma()
            text.append(attributes.category)
            text.appendComma()
            text.appendTenths(attributes.durationTenths)
            text.appendComma()
            text.append(attributes.durationBucket)
            text.appendComma()
            // Two tags, quoted because they contain the separator; the first is the category.
            text.appendText("\"\(attributes.category),\(attributes.secondTag)\"")
            text.appendNewline()
        }
        return text.bytes
    }

    private func logTable(_ model: SyntheticHiddenModel, random: inout SplitMix64) -> [UInt8] {
        let withContext = options.contextIdSpace > 0
        var text = CSVTextWriter(capacity: options.rows * (withContext ? 42 : 32))
        text.appendLine("user_id,item_id,date,scene,click,long_view,like" + (withContext ? ",context_id" : ""))
        let dates = (0..<options.days).map { options.date(ofDay: $0) }
        // A stream of its own, so adding the column leaves every other column unchanged.
        var contextRandom = SplitMix64(seed: options.seed ^ 0x434F_4E54_4558_5400)
        for row in 0..<options.rows {
            let impression = model.sampleImpression(random: &random)
            text.append(impression.user)
            text.appendComma()
            text.append(impression.item)
            text.appendComma()
            // Rows are in time order: the day grows with the row number.
            text.append(dates[row * options.days / max(options.rows, 1)])
            text.appendComma()
            text.append(impression.scene)
            text.appendComma()
            text.append(impression.click ? 1 : 0)
            text.appendComma()
            text.append(impression.longView ? 1 : 0)
            text.appendComma()
            text.append(impression.like ? 1 : 0)
            if withContext {
                // Skewed toward small ids, as real id logs are, but spread over the whole space.
                let unit = contextRandom.nextUnit()
                text.appendComma()
                text.append(min(options.contextIdSpace - 1, Int(Double(options.contextIdSpace) * unit * unit)))
            }
            text.appendNewline()
        }
        return text.bytes
    }

    private func save(_ bytes: [UInt8], name: String, in directory: String) throws {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DataError.fileAccess(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

/// Appends CSV text to a byte buffer, formatting integers without creating `String`s.
struct CSVTextWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    mutating func appendText(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func appendLine(_ text: String) {
        appendText(text)
        appendNewline()
    }

    mutating func appendComma() { bytes.append(UInt8(ascii: ",")) }
    mutating func appendNewline() { bytes.append(UInt8(ascii: "\n")) }

    mutating func append(_ value: Int) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            append(-value)
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            for index in stride(from: count - 1, through: 0, by: -1) {
                bytes.append(buffer[index])
            }
        }
    }

    /// Appends `tenths / 10` with one decimal, e.g. 375 as "37.5".
    mutating func appendTenths(_ tenths: Int) {
        append(tenths / 10)
        bytes.append(UInt8(ascii: "."))
        append(tenths % 10)
    }
}
