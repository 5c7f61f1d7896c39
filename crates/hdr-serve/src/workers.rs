//! The threads that run predictions: [`Limits::max_running`] of them,
//! started with the server and fed by one queue, so a core never waits for a
//! thread to be handed work.
//!
//! A worker that finds several single-image requests waiting takes up to
//! [`Classifier::CHUNK`] of them: it decodes and preprocesses each in turn
//! and runs the model once for all, as `predict` does for a folder of files.
//! Each request still gets its own answer, and a bad image its own error.
//!
//! A request that waits longer than [`Limits::max_wait`], or whose client
//! goes away, is withdrawn from the queue: no worker runs it, and its body
//! is freed at once. A batch whose client goes away while it runs is given
//! up between images.
//!
//! [`Limits::max_running`]: crate::Limits::max_running
//! [`Limits::max_wait`]: crate::Limits::max_wait

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use crossbeam_channel::{Receiver, Sender};
use hdr_recognize::{Classifier, Recognizer};
use tokio::sync::oneshot;

use crate::recognize::{self, Answer};

/// What one request asks for.
pub(crate) enum Work {
    /// One image (`POST /api/predict`).
    One {
        /// The encoded image.
        bytes: Bytes,
        /// Whether the answer carries probabilities and the model's input.
        details: bool,
    },
    /// Named images (`POST /api/predict/batch`), answered in order.
    Many {
        /// Each part's name and encoded image.
        files: Vec<(String, Bytes)>,
        /// As for [`Work::One`].
        details: bool,
    },
}

/// Why a request got no answer from the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It waited [`Limits::max_wait`](crate::Limits::max_wait) without a worker taking it.
    Busy,
    /// The prediction panicked, or the workers have stopped.
    Failed,
}

/// A request and where its answer goes.
struct Request {
    work: Work,
    reply: oneshot::Sender<Vec<Answer>>,
}

/// A request's place in the queue, shared with its handler. The request is
/// taken out once: by the worker that runs it, or by the handler that
/// withdraws it. Withdrawing drops the body at once, so requests that gave
/// up waiting hold no memory while their empty places wait to be dequeued.
#[derive(Clone)]
struct Place(Arc<Mutex<Option<Request>>>);

impl Place {
    /// The request, unless a worker or its handler took it already.
    fn take(&self) -> Option<Request> {
        // Nothing panics while holding the lock; a poisoned one is still sound.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Withdraws a request that no worker has taken yet when its handler ends
/// (answered, timed out, or dropped because the client went away).
struct Withdraw(Place);

impl Drop for Withdraw {
    fn drop(&mut self) {
        self.0.take();
    }
}

/// The prediction threads and their queue; the threads end when this is
/// dropped and the queue has drained.
#[derive(Debug)]
pub(crate) struct Workers {
    queue: Sender<Place>,
    model: Model,
}

/// The model the workers run, swapped whole when a retrained one is loaded:
/// a request runs on the model it started with.
#[derive(Debug, Clone)]
struct Model(Arc<RwLock<Arc<Recognizer>>>);

impl Model {
    fn current(&self) -> Arc<Recognizer> {
        // Nothing panics while holding the lock; a poisoned one is still sound.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, recognizer: Recognizer) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(recognizer);
    }
}

impl Workers {
    /// Starts `count` (at least one) threads sharing `recognizer`.
    pub(crate) fn start(recognizer: Recognizer, count: usize) -> std::io::Result<Self> {
        let model = Model(Arc::new(RwLock::new(Arc::new(recognizer))));
        // Unbounded: the server admits at most max_running + max_waiting
        // prediction requests, so the queue never holds more bodies (the
        // places of withdrawn ones are empty).
        let (queue, places) = crossbeam_channel::unbounded();
        for i in 0..count.max(1) {
            let model = model.clone();
            let places = places.clone();
            std::thread::Builder::new()
                .name(format!("hdr-serve-predict-{i}"))
                .spawn(move || work(&model, &places))?;
        }
        Ok(Self { queue, model })
    }

    /// Runs every request from now on with `recognizer`.
    pub(crate) fn swap(&self, recognizer: Recognizer) {
        self.model.replace(recognizer);
    }

    /// Runs `work` on a worker, waiting at most `max_wait` for one to take it.
    pub(crate) async fn run(&self, work: Work, max_wait: Duration) -> Result<Vec<Answer>, Refusal> {
        let (reply, mut answer) = oneshot::channel();
        let place = Place(Arc::new(Mutex::new(Some(Request { work, reply }))));
        let _withdraw = Withdraw(place.clone());
        self.queue
            .send(place.clone())
            .map_err(|_| Refusal::Failed)?;
        tokio::select! {
            answers = &mut answer => answers.map_err(|_| Refusal::Failed),
            () = tokio::time::sleep(max_wait) => {
                if place.take().is_some() {
                    Err(Refusal::Busy)
                } else {
                    // A worker took it just now: its answer is coming.
                    answer.await.map_err(|_| Refusal::Failed)
                }
            }
        }
    }
}

/// A worker's loop: takes the next request, and with a single image, also
/// the single images queued behind it (up to [`Classifier::CHUNK`]).
fn work(model: &Model, queue: &Receiver<Place>) {
    let mut next: Option<Request> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(place) => match place.take() {
                    Some(job) => job,
                    None => continue,
                },
                // The server has stopped and the queue is empty.
                Err(_) => return,
            },
        };
        let recognizer = &*model.current();
        match job.work {
            Work::Many { files, details } => {
                let reply = job.reply;
                // A client that has gone (its handler dropped) closes the
                // reply: the rest of its images are then not decoded.
                let gone = || reply.is_closed();
                if let Some(Some(answers)) =
                    guarded(|| recognize::recognize_many(recognizer, &files, details, gone))
                {
                    let _ = reply.send(answers);
                }
            }
            Work::One { bytes, details } => {
                let mut images = vec![(bytes, details)];
                let mut replies = vec![job.reply];
                while images.len() < Classifier::CHUNK {
                    let Ok(place) = queue.try_recv() else { break };
                    let Some(queued) = place.take() else {
                        continue;
                    };
                    match queued.work {
                        Work::One { bytes, details } => {
                            images.push((bytes, details));
                            replies.push(queued.reply);
                        }
                        many @ Work::Many { .. } => {
                            next = Some(Request {
                                work: many,
                                reply: queued.reply,
                            });
                            break;
                        }
                    }
                }
                if let Some(answers) = guarded(|| recognize::recognize_singles(recognizer, &images))
                {
                    for (answer, reply) in answers.into_iter().zip(replies) {
                        let _ = reply.send(vec![answer]);
                    }
                }
            }
        }
    }
}

/// What `work` returns, or `None` if it panics: the replies are then dropped
/// unanswered, each handler says the prediction failed, and the worker goes
/// on serving.
fn guarded<T>(work: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(work)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request's place, as queued, and the handler's end of its reply.
    fn queued() -> (Place, oneshot::Receiver<Vec<Answer>>) {
        let (reply, answer) = oneshot::channel();
        let work = Work::One {
            bytes: Bytes::from_static(b"an image"),
            details: false,
        };
        let place = Place(Arc::new(Mutex::new(Some(Request { work, reply }))));
        (place, answer)
    }

    #[test]
    fn a_withdrawn_request_is_dropped_at_once_and_never_taken() {
        let (place, mut answer) = queued();
        let in_queue = place.clone();
        drop(Withdraw(place));
        // The request went with the withdrawal (its reply sender too), not
        // when the worker dequeues its place.
        assert!(matches!(
            answer.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(in_queue.take().is_none(), "no worker runs it");
    }

    #[test]
    fn a_taken_request_is_not_withdrawn() {
        let (place, mut answer) = queued();
        let taken = place.take().expect("the worker takes it");
        drop(Withdraw(place));
        taken.reply.send(Vec::new()).unwrap();
        assert_eq!(answer.try_recv().unwrap(), Vec::new());
    }
}
