//! Run one input through a target, outside libFuzzer (for reading crashes):
//! `CELLSOCK_FUZZ_TRACE=1 cargo run --bin replay -- driver_bg96 artifacts/driver_bg96/crash-...`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, file] = args.as_slice() else {
        eprintln!("usage: replay <framer|driver_bg96|driver_nrf91> FILE");
        std::process::exit(2);
    };
    let data = std::fs::read(file).expect("read the input");
    match target.as_str() {
        "framer" => cellsock_fuzz::framer(&data),
        "driver_bg96" => cellsock_fuzz::driver_bg96(&data),
        "driver_nrf91" => cellsock_fuzz::driver_nrf91(&data),
        other => panic!("unknown target {other}"),
    }
    println!("{file}: passes");
}
