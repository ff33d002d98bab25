// TEMPORARY scratch tool: dump decoded RGB8 for comparison with PIL.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    for f in &args[2..] {
        let p = std::path::Path::new(f);
        let img = clipneurons_image::load_image(p).unwrap();
        let rgb = clipneurons_image::to_rgb8(&img);
        let name = p.file_name().unwrap().to_string_lossy();
        std::fs::write(
            std::path::Path::new(&args[1]).join(format!("{name}.rgb")),
            rgb.as_raw(),
        )
        .unwrap();
    }
}
