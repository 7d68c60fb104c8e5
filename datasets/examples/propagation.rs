//! Root-cause ranking on the microservice families, with every miss listed:
//! `cargo run -p datasets --example propagation -- DRAWS SEED`.

fn main() {
    let mut args = std::env::args().skip(1);
    let draws = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    if let Some(index) = args.next().and_then(|a| a.parse::<usize>().ok()) {
        let d = app::microservices::draw(seed, index);
        println!(
            "{} root {} edges {:?}",
            d.scenario.meta.description, d.root, d.edges
        );
        for r in datasets::propagation::ranking_of(&d) {
            println!(
                "  {:<10} share {:.3} z {:>8.1} change {:>7.3} {:<28} {:?} inherits {:?}",
                r.service, r.share, r.score, r.change, r.metric, r.kind, r.inherits_from
            );
        }
        return;
    }
    let report = datasets::propagation::evaluate(draws, seed);
    for d in report.draws.iter().filter(|d| d.rank != Some(1)) {
        println!(
            "miss {:<34} root {:<10} rank {:?} (no graph {:?}, z {:?}) {} services, {} s, edges {}, top {:?}",
            d.name,
            d.root,
            d.rank,
            d.rank_without_graph,
            d.rank_by_z,
            d.services,
            d.step_s,
            d.edges_found,
            d.top
        );
    }
    print!("{}", report.table());
}
