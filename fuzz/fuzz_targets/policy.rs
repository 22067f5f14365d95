//! The key policy parser and evaluator: any text is refused with an error or
//! parses to a document that prints and parses back to itself; evaluating it
//! for a few callers and actions never panics and is deterministic.
#![no_main]

use kmsfs::model::{Caller, EncryptionContext};
use kmsfs::policy::{
    evaluate, Grant, GrantConstraints, GrantOperation, PolicyDocument, Principal, Request,
};
use libfuzzer_sys::fuzz_target;

fn caller(uid: u32, name: Option<&str>, groups: &[u32]) -> Caller {
    Caller {
        uid,
        user_name: name.map(str::to_string),
        gid: groups.first().copied().unwrap_or(uid),
        groups: groups.to_vec(),
        group_names: vec!["staff".to_string()],
        pid: Some(42),
        comm: Some("cat".to_string()),
        exe: Some("/usr/bin/cat".to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = PolicyDocument::parse(text) else {
        return;
    };
    let printed = policy.to_json_pretty();
    let again = PolicyDocument::parse(&printed).expect("a printed policy parses");
    assert_eq!(again, policy);

    let mut context = EncryptionContext::new();
    context.insert("kmsfs:volume", "v1");
    context.insert("kmsfs:path", "/home/alice/notes.txt");
    let grants = [Grant {
        grant_id: "g1".to_string(),
        grantee: Principal::Group("staff".to_string()),
        operations: vec![GrantOperation::Decrypt],
        constraints: GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(context.clone()),
        },
    }];
    let callers = [
        caller(0, Some("root"), &[0]),
        caller(1000, Some("alice"), &[1000, 50]),
        caller(4242, None, &[]),
    ];
    let contexts = [EncryptionContext::new(), context];
    for caller in &callers {
        for action in [
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:PutKeyPolicy",
            "kms:decrypt",
            "kms:*",
        ] {
            for context in &contexts {
                let request = Request {
                    caller,
                    action,
                    context,
                };
                let decision = evaluate(&policy, &grants, &request);
                assert_eq!(decision, evaluate(&again, &grants, &request));
                let _ = decision.explain(action, &caller.principal());
            }
        }
    }
});
