//! Binding, running and stopping the server: on the caller's thread until
//! Ctrl-C or SIGTERM, or on a thread of its own with a handle to stop it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{oneshot, watch};

use crate::card;
use crate::config::ServeConfig;
use crate::listener;
use crate::recognize;
use crate::routes::{self, App};
use crate::ServeError;

/// A server with its model loaded and its socket bound, not yet answering.
#[derive(Debug)]
pub struct Server {
    app: Arc<App>,
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Loads the model and the model card and binds `addr` (port 0 picks a free port).
    pub fn bind(config: &ServeConfig, addr: SocketAddr) -> Result<Self, ServeError> {
        let recognizer = recognize::load(&config.model, config.test_time_augmentation)?;
        let card = card::build(&config.model, &config.card)?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let app = App::new(recognizer, card, config, addr.ip().is_loopback())
            .map_err(ServeError::Runtime)?;
        Ok(Self {
            app: Arc::new(app),
            listener,
            addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers requests on this thread until Ctrl-C or SIGTERM, then stops
    /// taking connections and lets the requests in progress finish, for
    /// [`Limits::shutdown_grace`](crate::Limits::shutdown_grace) at most; a
    /// second Ctrl-C or SIGTERM returns at once.
    pub fn run_until_signal(self) -> Result<(), ServeError> {
        let runtime = runtime()?;
        let served = runtime.block_on(async move {
            let signals = signals()?;
            let mut first = signals.clone();
            let mut second = signals;
            self.serve(
                async move {
                    let _ = first.wait_for(|n| *n >= 1).await;
                },
                async move {
                    let _ = second.wait_for(|n| *n >= 2).await;
                },
            )
            .await
        });
        // Requests still running past the grace are dropped with the runtime,
        // without waiting for them.
        runtime.shutdown_background();
        served
    }

    /// Answers requests on a thread of its own until the handle stops it.
    pub fn spawn(self) -> Result<RunningServer, ServeError> {
        let runtime = runtime()?;
        let addr = self.addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hdr-serve".into())
            .spawn(move || {
                let served = runtime.block_on(self.serve(
                    async move {
                        // A dropped handle stops the server too.
                        let _ = stopped.await;
                    },
                    std::future::pending(),
                ));
                runtime.shutdown_background();
                served
            })
            .map_err(ServeError::Runtime)?;
        Ok(RunningServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    async fn serve(
        self,
        stop: impl std::future::Future<Output = ()>,
        force: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let listener =
            tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Runtime)?;
        let limits = self.app.limits().clone();
        listener::serve(listener, routes::router(self.app), &limits, stop, force).await;
        Ok(())
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hdr-serve-worker")
        .build()
        .map_err(ServeError::Runtime)
}

/// How many Ctrl-C (SIGINT) or SIGTERM signals have come so far.
#[cfg(unix)]
fn signals() -> Result<watch::Receiver<u32>, ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
    let (count, counted) = watch::channel(0);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            count.send_modify(|n| *n += 1);
        }
    });
    Ok(counted)
}

/// How many Ctrl-C have come so far.
#[cfg(not(unix))]
fn signals() -> Result<watch::Receiver<u32>, ServeError> {
    let (count, counted) = watch::channel(0);
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            count.send_modify(|n| *n += 1);
        }
    });
    Ok(counted)
}

/// A server answering on its own thread; dropping it stops the server too.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl RunningServer {
    /// The address it answers on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops taking connections, lets the requests in progress finish (for
    /// [`Limits::shutdown_grace`](crate::Limits::shutdown_grace) at most), and waits.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_and_wait()
    }

    fn stop_and_wait(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServeError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_wait();
    }
}
