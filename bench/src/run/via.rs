//! The gateway dimension's cells (`--via`; which gateways, `crate::gateway::vias`).

use super::plan::{CellPlan, LoadPoint, Plan};
use super::profiles::Security;
use crate::gateway::routed;

impl Plan {
    /// The cells through each gateway: on loopback, warm and plain, closed loop at every
    /// concurrency level, for every variant the gateway routes.
    pub(super) fn gateway_cells(&self) -> Vec<CellPlan> {
        let mut cells = Vec::new();
        let Some(network) = self.networks.iter().position(|n| n.is_loopback()) else { return cells };
        for &via in &self.vias {
            for &protocol in self.protocols.iter().filter(|p| routed(**p).is_ok()) {
                for &op in self.via_ops.iter().filter(|op| protocol.unsupported(**op).is_none()) {
                    for &concurrency in &self.concurrency {
                        cells.push(CellPlan {
                            protocol,
                            op,
                            point: LoadPoint::Closed { concurrency },
                            network,
                            emulated: false,
                            fresh: false,
                            security: Security::Plain,
                            streams: 1,
                            size: None,
                            via: Some(via),
                        });
                    }
                }
            }
        }
        cells
    }
}
