//! TODO
pub struct Container;
pub struct ContainerBuilder;
pub struct CreateOptions;
pub struct ExecOptions;
