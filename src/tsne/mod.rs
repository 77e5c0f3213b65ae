pub mod fft_repulsion;
