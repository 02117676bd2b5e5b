import Communication
import Foundation
import Training

/// Starts a command's work on every rank: as threads of this process with `--debug`, else as
/// this MPI process, and turns failures into an exit status that every rank reaches.
enum RankLauncher {
    /// Runs `work` on `debugRanks` in-process ranks, or under MPI when nil. Returns the exit
    /// status: the highest status `work` returned on any rank, or 1 after the failing rank
    /// logged its error.
    static func run(debugRanks: Int?, level: LogLevel, _ work: @escaping (Communicator, Logger) throws -> Int32) -> Int32 {
        if let worldSize = debugRanks {
            do {
                let statuses = try InProcessWorld.run(worldSize: worldSize) { communicator in
                    let logger = Logger(rank: communicator.rank, worldSize: worldSize, level: level)
                    do {
                        return try work(communicator, logger)
                    } catch {
                        // Report each fault once: collective failures on rank 0, and not the
                        // "aborted by rank r" that the other ranks see after a rank fails.
                        let echo = error is CollectiveFailure || error is CommunicationError
                        if !echo || communicator.rank == 0 {
                            logger.error("\(error)")
                        }
                        throw error
                    }
                }
                return statuses.max() ?? 0
            } catch {
                return 1  // Already logged by the rank that raised it.
            }
        }

        let communicator: MPICommunicator
        do {
            communicator = try MPICommunicator()
        } catch {
            FileHandle.standardError.write(Data("cannot start MPI: \(error)\n".utf8))
            return 1
        }
        let logger = Logger(rank: communicator.rank, worldSize: communicator.worldSize, level: level)
        var status: Int32 = 0
        do {
            status = try work(communicator, logger)
        } catch let failure as CollectiveFailure {
            // Every rank raised this together, so no rank is left waiting: stop without MPI_Abort.
            if communicator.rank == 0 {
                logger.error(failure.description)
            }
            try? communicator.finalize()
            return 1
        } catch {
            logger.error("\(error)")
            if communicator.worldSize > 1 {
                // Peers may be blocked in a collective this rank will never join: end the whole job.
                communicator.abort(message: "\(error)", code: 1)
            }
            try? communicator.finalize()
            return 1
        }
        do {
            try communicator.finalize()
        } catch {
            logger.error("\(error)")
            return 1
        }
        return status
    }
}
