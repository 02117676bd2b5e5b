/// Checks that a checkpoint's values fit a trainer: the same model, features, table sizes,
/// dense shapes and optimizers. The world size may differ, because tables are saved in global
/// row order.
enum CheckpointCompatibility {
    static func check(_ manifest: CheckpointManifest, against trainer: Trainer, resuming: Bool,
                      manifestPath: String) throws {
        func reject(_ what: String, _ saved: String, _ current: String) -> CheckpointError {
            .incompatible(path: manifestPath, what: what, checkpoint: saved, current: current)
        }
        let config = trainer.config
        if manifest.modelName != config.model.name {
            throw reject("model.name", manifest.modelName, config.model.name)
        }

        let savedFeatures = manifest.tables.map(\.feature)
        if savedFeatures != trainer.layout.names {
            let missing = trainer.layout.names.filter { !savedFeatures.contains($0) }
            let extra = savedFeatures.filter { !trainer.layout.names.contains($0) }
            var detail = ""
            if !missing.isEmpty { detail += "; this run adds \(missing.joined(separator: ", "))" }
            if !extra.isEmpty { detail += "; the checkpoint also has \(extra.joined(separator: ", "))" }
            throw reject("the feature list" + detail, savedFeatures.joined(separator: ", "),
                         trainer.layout.names.joined(separator: ", "))
        }
        for (feature, table) in manifest.tables.enumerated() {
            if table.rows != trainer.embeddings.tableRows[feature] {
                throw reject("the row count of table \(table.feature)", String(table.rows),
                             "\(trainer.embeddings.tableRows[feature]) (the vocabulary of the prepared data)")
            }
            if table.dimension != trainer.layout.widths[feature] {
                throw reject("the embedding dimension of \(table.feature)", String(table.dimension),
                             String(trainer.layout.widths[feature]))
            }
        }

        if manifest.sparseOptimizer.name != config.train.sparseOptimizer {
            throw reject("train.sparseOptimizer", manifest.sparseOptimizer.name, config.train.sparseOptimizer)
        }
        if manifest.denseOptimizer.name != config.train.optimizer {
            throw reject("train.optimizer", manifest.denseOptimizer.name, config.train.optimizer)
        }
        for (feature, table) in manifest.tables.enumerated() {
            let width = trainer.embeddings.sparseOptimizer.stateWidth(dimension: trainer.layout.widths[feature])
            if table.stateWidth != width {
                throw reject("the optimizer state width of table \(table.feature)", String(table.stateWidth), String(width))
            }
        }

        let parameters = trainer.model.parameters
        if manifest.dense.count != parameters.count {
            throw reject("the number of dense parameters", String(manifest.dense.count), String(parameters.count))
        }
        for (saved, parameter) in zip(manifest.dense, parameters) {
            if saved.name != parameter.name {
                throw reject("a dense parameter name", saved.name, parameter.name)
            }
            if saved.shape != parameter.shape {
                throw reject("the shape of dense parameter \(saved.name)", "\(saved.shape)", "\(parameter.shape)")
            }
        }

        if let savedBuffers = manifest.buffers {
            let buffers = trainer.model.buffers
            let savedNames = savedBuffers.map { "\($0.name) [\($0.count)]" }
            let names = buffers.map { "\($0.name) [\($0.count)]" }
            if savedNames != names {
                func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
                throw reject("the list of model buffers", list(savedNames), list(names))
            }
        }

        if resuming, manifest.trainRows != trainer.dataset.train.count {
            throw reject("the number of training rows", String(manifest.trainRows),
                         "\(trainer.dataset.train.count); resume on the data the checkpoint was trained on")
        }
    }
}
