//! Binding, running and stopping the server: on the caller's thread until
//! Ctrl-C or SIGTERM, or on a thread of its own with a handle to stop it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::card;
use crate::config::ServeConfig;
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
        let recognizer = recognize::load(&config.model)?;
        let card = card::build(&config.model, &config.card)?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let app = App::new(recognizer, card, config).map_err(ServeError::Runtime)?;
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
    /// taking connections and lets the requests in progress finish.
    pub fn run_until_signal(self) -> Result<(), ServeError> {
        let runtime = runtime()?;
        runtime.block_on(async move {
            let signal = shutdown_signal()?;
            self.serve(signal).await
        })
    }

    /// Answers requests on a thread of its own until the handle stops it.
    pub fn spawn(self) -> Result<RunningServer, ServeError> {
        let runtime = runtime()?;
        let addr = self.addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hdr-serve".into())
            .spawn(move || {
                runtime.block_on(self.serve(async move {
                    // A dropped handle stops the server too.
                    let _ = stopped.await;
                }))
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
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let listener =
            tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Runtime)?;
        axum::serve(listener, routes::router(self.app))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hdr-serve-worker")
        .build()
        .map_err(ServeError::Runtime)
}

/// Resolves on the first Ctrl-C (SIGINT) or SIGTERM.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves on the first Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
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

    /// Stops taking connections, lets the requests in progress finish, and waits.
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
