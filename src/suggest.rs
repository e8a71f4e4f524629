//! "Did you mean …?" for every unknown name a user can type: keys, targets, conditions.

/// The closest candidate to `typo`, if any is close enough to be a plausible typo.
pub fn did_you_mean<'a>(typo: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typo_lower = typo.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&typo_lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.chars().count().max(typo.chars().count()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// A ready-to-print hint: "did you mean `x`?".
pub fn hint<'a>(typo: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(typo, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["command", "cwd", "depends_on", "restart"];
        assert_eq!(did_you_mean("comand", keys), Some("command"));
        assert_eq!(did_you_mean("depend_on", keys), Some("depends_on"));
        assert_eq!(did_you_mean("restrat", keys), Some("restart"));
        assert_eq!(did_you_mean("zzzzzz", keys), None);
    }
}
