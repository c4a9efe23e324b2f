//! What the method section (the template partial `report/templates/method.html`) needs from
//! the run: the wording lives in the partial, the run's own settings come from here.

use crate::generator::GeneratorCheck;
use crate::{MethodNote, View, fmt};

pub(crate) fn method_notes(view: &View<'_>, generator: Option<&GeneratorCheck>) -> MethodNote {
    let o = &view.r.options;
    MethodNote {
        rate: o.rate.map_or_else(|| "no open-loop point in this run".into(), fmt::rate),
        warmup_s: o.warmup_s,
        duration_s: o.duration_s,
        repeat: o.repeat,
        floor: view.floor.clone(),
        generator: generator.map(crate::generator::note),
    }
}
