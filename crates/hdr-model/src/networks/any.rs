//! A network of any architecture, for code that learns which one from a
//! config or a weights file.

use super::architecture::Architecture;
use super::deep::Deep;
use super::network::Network;
use super::seed::Cnn;

/// A network of one of the [`Architecture`]s.
// The variants hold only tensor handles (a few hundred bytes; the weights live
// on the heap), and a program holds one or two networks: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AnyNetwork {
    /// The seed's network.
    Seed(Cnn),
    /// The deep network.
    Deep(Deep),
}

/// Runs `$body` with `$net` bound to the network inside `$any`, whatever its type.
macro_rules! with_network {
    ($any:expr, $net:ident => $body:expr) => {
        match $any {
            $crate::networks::AnyNetwork::Seed($net) => $body,
            $crate::networks::AnyNetwork::Deep($net) => $body,
        }
    };
}
pub(crate) use with_network;

impl AnyNetwork {
    /// A freshly initialised network of `architecture`, reproducible from `seed`.
    pub fn new(architecture: Architecture, seed: u64) -> Self {
        match architecture {
            Architecture::Seed => Cnn::new(seed).into(),
            Architecture::Deep => Deep::new(seed).into(),
        }
    }

    /// Which architecture this is.
    pub fn architecture(&self) -> Architecture {
        match self {
            AnyNetwork::Seed(_) => Architecture::Seed,
            AnyNetwork::Deep(_) => Architecture::Deep,
        }
    }
}

impl From<Cnn> for AnyNetwork {
    fn from(net: Cnn) -> Self {
        AnyNetwork::Seed(net)
    }
}

impl From<Deep> for AnyNetwork {
    fn from(net: Deep) -> Self {
        AnyNetwork::Deep(net)
    }
}

impl Architecture {
    /// The model card's layer lines of this architecture.
    pub fn describe(self) -> Vec<String> {
        match self {
            Architecture::Seed => Cnn::describe(),
            Architecture::Deep => Deep::describe(),
        }
    }

    /// Number of trainable parameters of this architecture.
    pub fn parameters(self) -> usize {
        match self {
            Architecture::Seed => Cnn::PARAMETERS,
            Architecture::Deep => Deep::PARAMETERS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::params::params;

    #[test]
    fn parameter_counts_match_the_tensors() {
        for a in Architecture::ALL {
            let net = AnyNetwork::new(a, 1);
            let counted: usize = with_network!(&net, n => params(n))
                .iter()
                .map(|p| p.values.len())
                .sum();
            assert_eq!(counted, a.parameters(), "{a}");
            assert_eq!(net.architecture(), a);
        }
        assert_eq!(Cnn::PARAMETERS, 34_826);
        assert_eq!(Deep::PARAMETERS, 197_482);
    }
}
