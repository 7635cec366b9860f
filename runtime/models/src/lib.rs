//! Policy model files on disk: versioned models with an active version
//! ([`ModelStore`], the `/models` volume), checkpoints written by a learner
//! ([`Checkpoints`], the `/checkpoints` volume) and the durable
//! [`TransitionLog`] a policy's (observation, action, reward) steps are
//! appended to. Every write is crash-safe (temp file, fsync, rename, directory
//! fsync; appends fsynced, a torn tail dropped on open). docs/policies.md
//! describes the learning loop around it.
//!
//! ```
//! use wasmtrade_models::{Checkpoints, ModelStore};
//!
//! let dir = tempfile::tempdir()?;
//! let models = ModelStore::open(dir.path().join("models"), 64 << 20)?;
//! let v1 = models.put("clstm", b"onnx bytes")?;
//! models.activate("clstm", v1.version)?;
//!
//! // A learner writes new weights; an operator (or the learner) activates them.
//! let checkpoints = Checkpoints::open(dir.path().join("checkpoints"))?;
//! checkpoints.write("clstm", "step-001000", b"better onnx bytes")?;
//! let v2 = checkpoints.activate(&models, "clstm", "step-001000")?;
//! assert_eq!(models.read_active("clstm")?, (v2.version, b"better onnx bytes".to_vec()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod atomic;
mod error;
mod store;
mod transitions;
mod verdict;

pub use atomic::write_atomic;
pub use error::ModelsError;
pub use store::{Checkpoint, Checkpoints, ModelStore, ModelVersion};
pub use transitions::{DurableTransitions, TransitionLog};
pub use verdict::{GateVerdict, VerdictKind};
