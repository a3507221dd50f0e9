//! Call statistics of registered functions.

use petri_api::model::Function;

/// Records one successful call that waited `wait` and ran `exec` seconds.
///
/// The averages follow Colonies: the first sample sets them and each later
/// one moves them halfway (`(old + new) / 2`), so recent calls weigh more.
pub fn record_call(f: &mut Function, wait: f64, exec: f64) {
    if f.counter == 0 {
        f.minwaittime = wait;
        f.maxwaittime = wait;
        f.avgwaittime = wait;
        f.minexectime = exec;
        f.maxexectime = exec;
        f.avgexectime = exec;
    } else {
        f.minwaittime = f.minwaittime.min(wait);
        f.maxwaittime = f.maxwaittime.max(wait);
        f.avgwaittime = (f.avgwaittime + wait) / 2.0;
        f.minexectime = f.minexectime.min(exec);
        f.maxexectime = f.maxexectime.max(exec);
        f.avgexectime = (f.avgexectime + exec) / 2.0;
    }
    f.counter += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_sets_then_min_max_track() {
        let mut f = Function::default();
        record_call(&mut f, 1.0, 2.0);
        record_call(&mut f, 3.0, 1.0);
        assert_eq!(f.counter, 2);
        assert_eq!((f.minwaittime, f.maxwaittime, f.avgwaittime), (1.0, 3.0, 2.0));
        assert_eq!((f.minexectime, f.maxexectime, f.avgexectime), (1.0, 2.0, 1.5));
    }
}
