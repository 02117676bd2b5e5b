import Communication
import Models

extension Trainer {
    /// Returns this rank's model buffers (running statistics) end to end, in `model.buffers` order.
    func bufferValues() -> [Float] {
        model.buffers.flatMap { buffer in
            let values = buffer.read()
            precondition(values.count == buffer.count, "buffer \(buffer.name) has \(values.count) values, expected \(buffer.count)")
            return values
        }
    }

    /// Replaces the model's buffers with `values`, laid out as `bufferValues()` returns them.
    func setBufferValues(_ values: [Float]) {
        var offset = 0
        for buffer in model.buffers {
            buffer.write(Array(values[offset..<(offset + buffer.count)]))
            offset += buffer.count
        }
        precondition(offset == values.count, "\(values.count) buffer values for buffers of \(offset)")
    }

    /// Returns every rank's `bufferValues()`, indexed by rank; collective.
    func gatherBufferValues() throws -> [[Float]] {
        let local = bufferValues()
        guard communicator.worldSize > 1 else { return [local] }
        let all = try communicator.allgather(local)
        return (0..<communicator.worldSize).map { rank in Array(all[(rank * local.count)..<((rank + 1) * local.count)]) }
    }

    /// Returns the mean of each position over `perRank`, taken in Double in rank order, so that
    /// copies that already agree keep their values bit for bit.
    static func meanOverRanks(_ perRank: [[Float]]) -> [Float] {
        guard let first = perRank.first else { return [] }
        return first.indices.map { index in
            Float(perRank.reduce(0.0) { $0 + Double($1[index]) } / Double(perRank.count))
        }
    }

    /// Runs `body` with the model's buffers replaced by their mean over ranks, then restores
    /// this rank's own values; collective. Each rank moves its buffers with its own rows, so the
    /// mean makes every rank score with the same statistics, while training goes on exactly as
    /// it would have without the evaluation.
    public func withAveragedBuffers<Value>(_ body: () throws -> Value) throws -> Value {
        guard !model.buffers.isEmpty else { return try body() }
        let perRank = try gatherBufferValues()
        setBufferValues(Self.meanOverRanks(perRank))
        defer { setBufferValues(perRank[communicator.rank]) }
        return try body()
    }
}
