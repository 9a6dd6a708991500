//! Mutations: one input argument, a payload with the changed record and `userErrors`.

mod access;
mod batch;
mod comments;
mod cycles;
pub(crate) mod input;
mod key_results;
pub(crate) mod kpis;
mod objectives;
mod organization;
mod practice;
mod teams;
mod webhooks;

use async_graphql::MergedObject;

/// Every mutation.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    organization::OrganizationMutations,
    access::AccessMutations,
    teams::TeamMutations,
    cycles::CycleMutations,
    objectives::ObjectiveMutations,
    key_results::KeyResultMutations,
    kpis::KpiMutations,
    comments::CommentMutations,
    practice::PracticeMutations,
    webhooks::WebhookMutations,
);
