//! The page, built into the binary: no CDN, nothing fetched from elsewhere.

/// The page: drawing canvas, probabilities, file drop, model card.
pub(crate) const INDEX_HTML: &str = include_str!("../assets/index.html");
/// The page's script.
pub(crate) const APP_JS: &str = include_str!("../assets/app.js");
/// The page's style sheet.
pub(crate) const APP_CSS: &str = include_str!("../assets/app.css");

/// Everything the page loads comes from this server; the browser refuses the rest.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";
