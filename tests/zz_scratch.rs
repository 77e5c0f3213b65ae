use latentviz::rng::Rng;
use latentviz::tsne::fft_repulsion::cpu;
#[test]
fn scratch() {
    let mut rng = Rng::new(20);
    let n = 1200;
    let y = rng.vec(n * 2, -20.0, 20.0);
    let exact = cpu::repulsion_exact(&y, n, 2);
    for iv in [25, 50, 100, 200] {
        let a = cpu::repulsion_interpolated(&y, n, 2, iv);
        let (mut df, mut nf, mut dmax) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n { for d in 0..2 { let e = (a[i*3+d]-exact[i*3+d]) as f64; df += e*e; nf += (exact[i*3+d] as f64).powi(2); dmax = dmax.max(e.abs()); } }
        println!("iv {iv}: width {:.3} force rel {:.3e} max abs {:.3e} rms force {:.3e}", 40.0/iv as f64, (df/nf).sqrt(), dmax, (nf/(2.0*n as f64)).sqrt());
    }
}
