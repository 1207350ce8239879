//! Throughput against offered load, one line per DUT and the ideal
//! (throughput = offered) as a dashed diagonal, drawn as SVG with
//! plotters' SVG backend (text is left to the SVG viewer, so no font
//! rasterizer and no system font packages are needed).

use std::path::Path;

use plotters::prelude::*;

use super::BenchReport;

const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// Write the plot to `path` (SVG).
pub fn write_svg(r: &BenchReport, path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    let max_x = r
        .duts
        .iter()
        .flat_map(|d| d.sweep.iter().map(|t| t.offered_pps))
        .fold(r.gen_max_pps, f64::max)
        / 1e6;
    let max_y = r
        .duts
        .iter()
        .flat_map(|d| d.sweep.iter().map(|t| t.throughput_pps))
        .fold(0.0, f64::max)
        / 1e6;
    let top = (max_x.max(max_y) * 1.1).max(0.001);
    let root = SVGBackend::new(path, (800, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let caption = format!(
        "veth forwarding, {} B frames, DUT on core(s) {:?} ({})",
        r.config.size, r.config.placement.dut_cores, r.date
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..top, 0f64..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("offered load (Mpps)")
        .y_desc("throughput (Mpps)")
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(0.0, 0.0), (top, top)],
            6,
            4,
            ShapeStyle::from(&BLACK.mix(0.4)).stroke_width(1),
        ))
        .map_err(|e| err(&e))?
        .label("throughput = offered")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (i, d) in r.duts.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut pts: Vec<(f64, f64)> = d
            .sweep
            .iter()
            .map(|t| (t.offered_pps / 1e6, t.throughput_pps / 1e6))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                pts.clone(),
                ShapeStyle::from(&color).stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(d.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 20, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
