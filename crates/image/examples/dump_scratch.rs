// TEMPORARY scratch tool: preprocess files and dump raw f32 for comparison with Python.
use std::io::Write;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: usize = args[1].parse().unwrap();
    let outdir = std::path::Path::new(&args[2]);
    for f in &args[3..] {
        let p = std::path::Path::new(f);
        let name = p.file_name().unwrap().to_string_lossy();
        match clipneurons_image::preprocess_path(p, size) {
            Ok(v) => {
                let mut o =
                    std::fs::File::create(outdir.join(format!("{name}@{size}.f32"))).unwrap();
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                o.write_all(&bytes).unwrap();
            }
            Err(e) => println!("ERR {e}"),
        }
    }
}
