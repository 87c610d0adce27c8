//! gpfn-data's tests, one module per data set or concern, in one test binary (each binary
//! links burn: one link instead of five in CI's build).

mod bin_mnist;
mod categorical;
mod fetch;
mod image_folder;
mod npy;
