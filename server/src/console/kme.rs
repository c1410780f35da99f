//! Console page of Samsung Knox Mobile Enrollment (seed 004): turn the integration on, the
//! reseller uploads waiting for approval (CSV upload, approve all or the selected ones, the
//! unapproved as CSV), the sync status, and the KME profiles (moves and unassignment are on
//! each profile's page, `bulk.rs`).

use super::bulk::enc;
use super::{admin, admin_post, download, error_page, flash, frame, upload_reply, AdminXhr};
use crate::http::{blocking, AppState, CsvUpload, Route};
use crate::kme::KmeService;
use crate::web::{attr, esc, fmt_time, redirect, Form, Lang};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use enroll_proto::{KmeApproveRequest, KmeIntegrationRequest};

/// Uploads listed on the page.
const PAGE_UPLOADS: u64 = 500;

/// The pages of this file.
pub(super) fn pages() -> Vec<Route> {
    vec![
        Route::new("GET", "/console/kme", get(page)),
        Route::new("POST", "/console/kme/enable", post(enable)),
        Route::new("POST", "/console/kme/csv", post(upload)),
        Route::new("POST", "/console/kme/approve", post(approve)),
        Route::new("GET", "/console/kme/unapproved.csv", get(unapproved)),
    ]
}

async fn page(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let loaded = blocking(core.clone(), |s| {
        let k = KmeService(s);
        let view = k.kme_integration()?;
        let uploads = if view.enabled {
            k.kme_uploads(0, PAGE_UPLOADS)?
        } else {
            Vec::new()
        };
        Ok((view, uploads))
    })
    .await;
    let (view, uploads) = match loaded {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let body = if !view.enabled {
        format!(
            "<div class=\"card\"><p>{}</p><form method=\"post\" action=\"/console/kme/enable\">{}\
<label for=\"name\">{}</label><input type=\"text\" id=\"name\" name=\"name\" value=\"Samsung KME\" required>\
<label for=\"description\">{}</label><input type=\"text\" id=\"description\" name=\"description\">\
<button type=\"submit\" id=\"enable-kme\">{}</button></form></div>",
            l.t(
                "The Samsung KME integration is off.",
                "L'intégration Samsung KME est désactivée."
            ),
            adm.csrf(),
            l.t("Integration name", "Nom de l'intégration"),
            l.t("Description", "Description"),
            l.t("Turn on Samsung KME", "Activer Samsung KME"),
        )
    } else {
        let rows: String = uploads
            .iter()
            .map(|d| {
                format!(
                    "<tr><td><input type=\"checkbox\" name=\"device\" value=\"{}\" form=\"approve-form\"></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    d.id,
                    esc(d.imei.as_deref().unwrap_or("")),
                    esc(d.serial.as_deref().unwrap_or("")),
                    fmt_time(d.created_at)
                )
            })
            .collect();
        let default = view
            .default_profile_id
            .as_ref()
            .map(|id| {
                format!(
                    "<a href=\"/console/bulk/{}\" id=\"default-profile\">{}</a>",
                    enc(id),
                    l.t(
                        "Default KME profile (approved devices: move them from there)",
                        "Profil KME par défaut (appareils approuvés : déplacez-les depuis ce profil)"
                    )
                )
            })
            .unwrap_or_default();
        format!(
            "<div class=\"card\"><p><strong>{}</strong> · {}</p><p id=\"sync\">{} {}</p><p id=\"pending-approval\">{} {}</p><p>{default}</p></div>\
<h2>{}</h2><div class=\"card\"><form data-upload method=\"post\" action=\"/console/kme/csv\" {} {} {} {} {}>{}\
<label for=\"csv\">{}</label><input type=\"file\" id=\"csv\" name=\"csv\" accept=\".csv,text/csv\" required>\
<button type=\"submit\" id=\"upload\">{}</button><progress max=\"100\" value=\"0\" hidden></progress><output id=\"upload-result\"></output></form></div>\
<h2>{}</h2><p><a class=\"button quiet\" href=\"/console/kme/unapproved.csv\" download id=\"unapproved-csv\">{}</a></p>\
<div class=\"table\"><table id=\"uploads\"><thead><tr><th><input type=\"checkbox\" data-select-all=\"device\" aria-label=\"all\"></th><th>IMEI</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table></div>\
<form method=\"post\" action=\"/console/kme/approve\" id=\"approve-form\">{}<button type=\"submit\" name=\"scope\" value=\"selected\" id=\"approve-selected\">{}</button>\
<button type=\"submit\" name=\"scope\" value=\"all\" class=\"quiet\" id=\"approve-all\">{}</button></form>",
            esc(&view.name),
            esc(&view.description),
            l.t("Last sync:", "Dernière synchronisation :"),
            view.last_sync_at.map(fmt_time).unwrap_or_else(|| l.t("never synced", "jamais synchronisé").into()),
            l.t("Waiting for approval:", "En attente d'approbation :"),
            view.pending_approval,
            l.t("Reseller upload", "Téléversement du revendeur"),
            attr("data-msg-sending", l.t("Sending…", "Envoi…")),
            attr("data-msg-checking", l.t("Checking every line…", "Vérification de chaque ligne…")),
            attr("data-msg-network", l.t("The upload failed: check the connection and retry.", "L'envoi a échoué : vérifiez la connexion et réessayez.")),
            attr("data-msg-line", l.t("Line", "Ligne")),
            attr("data-msg-reload", l.t("Show the uploads", "Afficher les téléversements")),
            adm.csrf(),
            l.t("CSV file of the reseller's devices", "Fichier CSV des appareils du revendeur"),
            l.t("Upload", "Téléverser"),
            l.t("Waiting for approval", "En attente d'approbation"),
            l.t("Download the unapproved devices (CSV)", "Télécharger les appareils non approuvés (CSV)"),
            l.t("Serial number", "Numéro de série"),
            l.t("Uploaded", "Téléversé"),
            adm.csrf(),
            l.t("Approve selected", "Approuver la sélection"),
            l.t("Approve all", "Tout approuver"),
        )
    };
    frame(
        &core,
        &adm,
        l,
        "Samsung Knox Mobile Enrollment",
        "/console/kme",
        body,
    )
    .into_response()
}

async fn enable(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let req = KmeIntegrationRequest {
        name: form.get("name").unwrap_or_default().to_string(),
        description: form.get("description").unwrap_or_default().to_string(),
    };
    match blocking(core.clone(), move |s| KmeService(s).enable_kme(&req)).await {
        Ok(_) => {
            flash(&core, &adm, l.t("Samsung KME is on.", "Samsung KME est activé."));
            redirect("/console/kme")
        }
        Err(e) => error_page(l, &e),
    }
}

async fn upload(_: AdminXhr, State(core): State<AppState>, headers: HeaderMap, file: CsvUpload) -> Response {
    let l = Lang::of(&headers);
    let result = blocking(core, move |s| KmeService(s).import_kme_csv(&file.path)).await;
    upload_reply(l, result)
}

async fn approve(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let req = KmeApproveRequest {
        all: form.get("scope") == Some("all"),
        device_ids: form.all("device").iter().filter_map(|v| v.parse().ok()).collect(),
    };
    match blocking(core.clone(), move |s| KmeService(s).kme_approve(&req)).await {
        Ok(r) => {
            flash(
                &core,
                &adm,
                &format!(
                    "{} {}",
                    r.affected,
                    l.t("device(s) approved.", "appareil(s) approuvé(s).")
                ),
            );
            redirect("/console/kme")
        }
        Err(e) => error_page(l, &e),
    }
}

async fn unapproved(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    if let Err(r) = admin(&core, &headers) {
        return r;
    }
    match blocking(core, |s| KmeService(s).export_kme_csv()).await {
        Ok(bytes) => download(bytes, "text/csv; charset=utf-8", "kme-unapproved.csv"),
        Err(e) => error_page(l, &e),
    }
}
