/// AUC averaged over users: GAUC weighted by impressions and UAUC unweighted.
///
/// Only users whose rows contain both a positive and a negative label have an AUC. With
/// `n_u` rows and `AUC_u` for such a user u:
///
///     GAUC = Σ_u n_u · AUC_u / Σ_u n_u      (impression-weighted)
///     UAUC = Σ_u AUC_u / validUsers          (unweighted)
///
/// GAUC follows "Deep Interest Network for Click-Through Rate Prediction" (Zhou et al., KDD 2018).
/// Some toolkits print the unweighted mean under the name "gauc", so compare definitions before
/// comparing numbers. Both are `nil` when no user has both classes.
public struct GroupedAUC: Codable, Equatable, Sendable {
    /// Impression-weighted mean of the per-user AUC.
    public var gauc: Double?
    /// Unweighted mean of the per-user AUC.
    public var uauc: Double?
    /// Number of users whose rows contain both classes, the users both means run over.
    public var validUsers: Int

    public init(gauc: Double?, uauc: Double?, validUsers: Int) {
        self.gauc = gauc
        self.uauc = uauc
        self.validUsers = validUsers
    }

    /// Computes GAUC, UAUC and the valid user count of `labels` against `scores`, grouped by
    /// `users`; all three are `[R]`. A label counts as positive when it is greater than 0.5.
    ///
    /// - Complexity: O(R log U) with U the most rows of one user: rows are bucketed by user in
    ///   O(R), then each user's rows are sorted by score.
    public static func compute(scores: [Float], labels: [Float], users: [Int64]) -> GroupedAUC {
        precondition(scores.count == labels.count && scores.count == users.count,
                     "GroupedAUC needs equal lengths, got \(scores.count) scores, \(labels.count) labels, "
                         + "\(users.count) users")

        let grouping = UserGrouping(users: users)
        var keys = [UInt64](repeating: 0, count: scores.count)
        let statistics = TaskRankStatistics.compute(grouping: grouping, sceneCount: 1, keys: &keys) { row in
            RankKey.make(score: scores[row], isPositive: labels[row] > 0.5, scene: 0)
        }
        return statistics.grouped.result
    }
}

/// Running sums for GAUC and UAUC, fed one user at a time.
struct GroupedAUCAccumulator: Sendable {
    private var weightedSum = 0.0
    private var weight = 0
    private var unweightedSum = 0.0
    private var validUsers = 0

    /// Adds one user's pair counts; a user with one class only is skipped.
    mutating func add(_ user: PairCounter) {
        guard let auc = user.auc else { return }
        weightedSum += Double(user.rows) * auc
        weight += user.rows
        unweightedSum += auc
        validUsers += 1
    }

    var result: GroupedAUC {
        guard validUsers > 0 else { return GroupedAUC(gauc: nil, uauc: nil, validUsers: 0) }
        return GroupedAUC(gauc: weightedSum / Double(weight),
                          uauc: unweightedSum / Double(validUsers),
                          validUsers: validUsers)
    }
}

/// Row indices bucketed by user, computed once and shared by every task.
///
/// Users are numbered in order of first appearance and rows are placed with a counting sort,
/// so building the grouping costs one dictionary lookup per row and no comparison sort.
struct UserGrouping: Sendable {
    /// Row indices `[R]`, the rows of each user contiguous.
    let rowOrder: [Int32]
    /// Start of each user's rows in `rowOrder`, `[users + 1]`; the last entry is R.
    let userStarts: [Int]

    var userCount: Int { userStarts.count - 1 }

    init(users: [Int64]) {
        precondition(users.count <= Int(Int32.max), "UserGrouping supports at most \(Int32.max) rows, got \(users.count)")

        var denseIDs = [Int32](repeating: 0, count: users.count)
        var idOfUser = [Int64: Int32]()
        var rowsPerUser: [Int] = []
        for row in 0..<users.count {
            let id: Int32
            if let known = idOfUser[users[row]] {
                id = known
            } else {
                id = Int32(rowsPerUser.count)
                idOfUser[users[row]] = id
                rowsPerUser.append(0)
            }
            denseIDs[row] = id
            rowsPerUser[Int(id)] += 1
        }

        var starts = [Int](repeating: 0, count: rowsPerUser.count + 1)
        for user in 0..<rowsPerUser.count {
            starts[user + 1] = starts[user] + rowsPerUser[user]
        }

        var nextSlot = starts
        var order = [Int32](repeating: 0, count: users.count)
        for row in 0..<users.count {
            let user = Int(denseIDs[row])
            order[nextSlot[user]] = Int32(row)
            nextSlot[user] += 1
        }
        rowOrder = order
        userStarts = starts
    }
}

/// Pair counts of one task over all rows, per scene, per user and per (user, scene).
struct TaskRankStatistics {
    /// Counts over all rows: the task's AUC, positives and rows.
    var overall = PairCounter()
    /// Counts per scene over all of that scene's rows, `[S]`.
    var perScene: [PairCounter]
    /// GAUC and UAUC over users.
    var grouped = GroupedAUCAccumulator()
    /// GAUC and UAUC per scene, over each user's rows in that scene, `[S]`.
    var groupedPerScene: [GroupedAUCAccumulator]

    /// Sorts the task's keys twice, once whole for the AUC and once per user for GAUC and UAUC.
    /// Users have few rows each, so their sorts use the standard library sort.
    ///
    /// - Parameters:
    ///   - keys: scratch space of R keys, reused across tasks to avoid reallocating.
    ///   - key: the `RankKey` of a row index.
    static func compute(grouping: UserGrouping, sceneCount: Int, keys: inout [UInt64],
                        key: (Int) -> UInt64) -> TaskRankStatistics {
        var statistics = TaskRankStatistics(
            perScene: [PairCounter](repeating: PairCounter(), count: sceneCount),
            groupedPerScene: [GroupedAUCAccumulator](repeating: GroupedAUCAccumulator(), count: sceneCount))
        var walker = TieGroupWalker(sceneCount: sceneCount)
        let rowCount = grouping.rowOrder.count

        var scratch = [UInt64](repeating: 0, count: rowCount)
        keys.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<rowCount { buffer[row] = key(row) }
            scratch.withUnsafeMutableBufferPointer { scratch in
                // The score is in the high 32 bits. Ties may keep any order of scene and label.
                if let keys = buffer.baseAddress, let scratchKeys = scratch.baseAddress {
                    radixSort(keys: keys, values: nil, count: buffer.count, keyShift: 32, keyBits: 32,
                              scratchKeys: scratchKeys, scratchValues: nil)
                }
            }
            walker.walk(UnsafeBufferPointer(buffer))
            statistics.overall = walker.overall
            for scene in walker.touchedScenes {
                statistics.perScene[scene] = walker.counts(ofScene: scene)
            }

            grouping.rowOrder.withUnsafeBufferPointer { order in
                for slot in 0..<rowCount { buffer[slot] = key(Int(order[slot])) }
            }
            for user in 0..<grouping.userCount {
                var userRows = UnsafeMutableBufferPointer(rebasing: buffer[grouping.userStarts[user]..<grouping.userStarts[user + 1]])
                userRows.sort()
                walker.walk(UnsafeBufferPointer(userRows))
                statistics.grouped.add(walker.overall)
                for scene in walker.touchedScenes {
                    statistics.groupedPerScene[scene].add(walker.counts(ofScene: scene))
                }
            }
        }
        return statistics
    }
}
