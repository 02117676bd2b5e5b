import Communication
import Models

extension Trainer {
    /// Replaces every rank's model buffers (running statistics) with their mean over ranks;
    /// collective. Each rank moves its buffers with its own rows, so without this the ranks would
    /// score the test split and checkpoints with different statistics.
    ///
    /// The mean is taken in Double in rank order, so ranks that already agree keep their values
    /// bit for bit, and every rank ends with the same values.
    public func synchronizeBuffers() throws {
        let buffers = model.buffers
        guard !buffers.isEmpty, communicator.worldSize > 1 else { return }
        let local = buffers.flatMap { buffer in
            let values = buffer.read()
            precondition(values.count == buffer.count, "buffer \(buffer.name) has \(values.count) values, expected \(buffer.count)")
            return values
        }
        let all = try communicator.allgather(local)
        let worldSize = communicator.worldSize
        var offset = 0
        for buffer in buffers {
            var mean = [Float](repeating: 0, count: buffer.count)
            for index in 0..<buffer.count {
                var sum = 0.0
                for rank in 0..<worldSize { sum += Double(all[rank * local.count + offset + index]) }
                mean[index] = Float(sum / Double(worldSize))
            }
            buffer.write(mean)
            offset += buffer.count
        }
    }
}
