//! What a listener serves: a [`Service`] is the set of APIs (with their version ranges) and the
//! handler of each. A role builds its service from a [`RouteTable`]: one [`Route`] per API,
//! each declared in the API's own file next to its handler.

use std::future::Future;
use std::pin::Pin;

use kafka_protocol::messages::ApiKey;

use super::session::Session;
use crate::protocol::api_versions::{API_VERSIONS, ApiRange, ApiTable};
use crate::protocol::request::{RequestError, RequestHead};
use crate::protocol::response::EncodedResponse;

/// The APIs of one listener and how each is answered. ApiVersions is answered by the
/// connection itself from [`Service::apis`].
pub trait Service: Send + Sync + 'static {
    /// Every API served, with its versions: what ApiVersions advertises.
    fn apis(&self) -> &ApiTable;

    /// Answers one request whose API and version are in [`Service::apis`].
    fn handle<'a>(&'a self, session: &'a mut Session, request: RequestHead) -> Handled<'a>;

    /// The connection of `session` ended, for any reason (the peer closed it, its process
    /// died and the kernel closed it, a bad request, idle timeout, shutdown). Called once, after
    /// its last request was answered.
    fn session_closed(&self, _session: &Session) {}
}

/// The future of one handled request.
pub type Handled<'a> =
    Pin<Box<dyn Future<Output = Result<EncodedResponse, RequestError>> + Send + 'a>>;

/// A handler of one API, given the role's context `C`.
pub type Handler<C> = for<'a> fn(&'a C, &'a mut Session, RequestHead) -> Handled<'a>;

/// One API of a role: its versions and its handler.
pub struct Route<C> {
    pub range: ApiRange,
    pub handler: Handler<C>,
}

impl<C> Route<C> {
    pub const fn new(key: ApiKey, min: i16, max: i16, handler: Handler<C>) -> Route<C> {
        Route {
            range: ApiRange { key, min, max },
            handler,
        }
    }
}

impl<C> Clone for Route<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Route<C> {}

impl<C> std::fmt::Debug for Route<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} v{}-v{}",
            self.range.key, self.range.min, self.range.max
        )
    }
}

/// A role's routes by API key, and the table ApiVersions advertises (ApiVersions first).
pub struct RouteTable<C> {
    routes: Vec<Route<C>>,
    apis: ApiTable,
}

impl<C> std::fmt::Debug for RouteTable<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.routes).finish()
    }
}

impl<C> RouteTable<C> {
    /// Builds a table. Two routes for one API, or a route for ApiVersions (which the
    /// connection answers), are programming errors.
    pub fn new(routes: Vec<Route<C>>) -> RouteTable<C> {
        let mut apis = vec![API_VERSIONS];
        for (i, r) in routes.iter().enumerate() {
            assert!(
                r.range.key != ApiKey::ApiVersions,
                "ApiVersions is answered by the connection"
            );
            assert!(
                routes[..i].iter().all(|o| o.range.key != r.range.key),
                "two routes for {:?}",
                r.range.key
            );
            assert!(r.range.min <= r.range.max, "empty range for {r:?}");
            apis.push(r.range);
        }
        RouteTable {
            routes,
            apis: ApiTable::new(apis),
        }
    }

    pub fn apis(&self) -> &ApiTable {
        &self.apis
    }

    pub fn get(&self, key: ApiKey) -> Option<&Route<C>> {
        self.routes.iter().find(|r| r.range.key == key)
    }

    /// Runs the route of `request`'s API.
    pub fn dispatch<'a>(
        &'a self,
        context: &'a C,
        session: &'a mut Session,
        request: RequestHead,
    ) -> Handled<'a> {
        match self.get(request.api_key) {
            Some(route) => (route.handler)(context, session, request),
            None => {
                let api = request.api_key;
                Box::pin(async move { Err(RequestError::UnsupportedApi { api }) })
            }
        }
    }
}

/// A service that is exactly a route table over a context.
pub struct RoutedService<C> {
    pub context: C,
    pub routes: RouteTable<C>,
}

impl<C: Send + Sync + 'static> Service for RoutedService<C> {
    fn apis(&self) -> &ApiTable {
        self.routes.apis()
    }

    fn handle<'a>(&'a self, session: &'a mut Session, request: RequestHead) -> Handled<'a> {
        self.routes.dispatch(&self.context, session, request)
    }
}
