//! The admin console: placeholder while the pages land.

use crate::http::Route;

/// The console's pages.
pub(crate) fn pages() -> Vec<Route> {
    Vec::new()
}
