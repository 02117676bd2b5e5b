/// Sizes and scene rates of a synthetic dataset.
public struct SyntheticDataOptions: Equatable, Sendable {
    /// Log rows (impressions).
    public var rows: Int
    public var users: Int
    public var items: Int
    /// Days covered by the log, one date per day from `startDate` on.
    public var days: Int
    /// Number of scenes S; scene values are "0" ..< "S".
    public var scenes: Int
    public var seed: UInt64
    /// Click probability of each scene for a user and item with zero hidden effects, `[S]`.
    /// The observed rate is pulled a little toward 0.5 by the spread of the hidden effects.
    public var sceneClickRates: [Double]
    /// Relative share of log rows of each scene, `[S]` (normalized by the generator).
    public var sceneRowShares: [Double]
    /// First log date as yyyymmdd.
    public var startDate: Int
    /// When positive, the log gets a `context_id` column drawn from `0..<contextIdSpace` (an
    /// unbounded id such as a device or query id), which the default config hashes into a table of
    /// that many rows; it carries no label signal. Zero leaves the column out.
    public var contextIdSpace = 0

    public init(rows: Int = 100_000, users: Int = 2_000, items: Int = 1_000, days: Int = 14, scenes: Int = 5,
                seed: UInt64 = 1, sceneClickRates: [Double]? = nil, sceneRowShares: [Double]? = nil,
                startDate: Int = 20_240_101) {
        precondition(rows >= 0 && users >= 1 && items >= 1 && days >= 1 && scenes >= 1,
                     "need rows >= 0 and at least 1 user, item, day and scene; got rows \(rows), users \(users), "
                     + "items \(items), days \(days), scenes \(scenes)")
        self.rows = rows
        self.users = users
        self.items = items
        self.days = days
        self.scenes = scenes
        self.seed = seed
        self.sceneClickRates = sceneClickRates ?? Self.defaultClickRates(scenes: scenes)
        // Scene s gets weight 1 / (s + 1): one dominant scene and a tail of small ones.
        self.sceneRowShares = sceneRowShares ?? (0..<scenes).map { 1 / Double($0 + 1) }
        self.startDate = startDate
        precondition(self.sceneClickRates.count == scenes && self.sceneRowShares.count == scenes,
                     "expected \(scenes) click rates and row shares, got \(self.sceneClickRates.count) and \(self.sceneRowShares.count)")
        precondition(self.sceneClickRates.allSatisfy { $0 > 0 && $0 < 1 },
                     "scene click rates must lie in (0, 1), got \(self.sceneClickRates)")
        precondition(self.sceneRowShares.allSatisfy { $0 > 0 }, "scene row shares must be positive, got \(self.sceneRowShares)")
    }

    /// Rates from 0.08 to 0.6, alternating low and high so that scene order does not follow
    /// the rate order.
    public static func defaultClickRates(scenes: Int) -> [Double] {
        guard scenes > 1 else { return [0.3] }
        let ascending = (0..<scenes).map { 0.08 + 0.52 * Double($0) / Double(scenes - 1) }
        var rates: [Double] = []
        var low = 0
        var high = scenes - 1
        while low <= high {
            rates.append(ascending[low])
            if low != high { rates.append(ascending[high]) }
            low += 1
            high -= 1
        }
        return Array(rates.prefix(scenes))
    }

    /// Returns the date `day` days after `startDate`, as yyyymmdd (Gregorian calendar).
    public func date(ofDay day: Int) -> Int {
        var year = startDate / 10_000
        var month = startDate / 100 % 100
        var dayOfMonth = startDate % 100 + day
        while true {
            let length = Self.daysInMonth(month, year: year)
            if dayOfMonth <= length { break }
            dayOfMonth -= length
            month += 1
            if month > 12 {
                month = 1
                year += 1
            }
        }
        return year * 10_000 + month * 100 + dayOfMonth
    }

    private static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2:
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return leap ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }
}
