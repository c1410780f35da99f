//! Console pages of bulk enrollment (seed 000) and the device moves of Samsung KME (seed 004):
//! the profiles, one profile's token (refresh, extend 7–999 days or never), its QR code (shown
//! and downloadable, PNG or SVG), its inventory (CSV download, CSV upload with a progress bar
//! and every bad line listed, add / edit / delete devices; move to another KME profile and
//! unassign for KME profiles) and its configuration.

use super::{admin, admin_post, download, error_page, flash, frame, image, upload_reply, AdminXhr};
use crate::bulk::BulkService;
use crate::error::ApiError;
use crate::http::{blocking, AppState, CsvUpload, PathParam, Route};
use crate::kme::KmeService;
use crate::web::{attr, esc, fmt_time, redirect, Form, Lang};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use enroll_proto::{
    AddBulkDevicesRequest, BulkDeviceEdit, BulkDeviceInput, BulkProfileConfig, BulkProfileKind,
    BulkTokenAction, BulkTokenRequest, CreateBulkProfileRequest, DeviceIdsRequest, EditBulkDevicesRequest,
    MoveDevicesRequest, UpdateBulkProfileRequest,
};
use std::collections::BTreeMap;

/// Devices listed on a profile's page.
const PAGE_DEVICES: u64 = 500;

/// The pages of this file.
pub(super) fn pages() -> Vec<Route> {
    vec![
        Route::new("GET", "/console/bulk", get(list)),
        Route::new("POST", "/console/bulk", post(create)),
        Route::new("GET", "/console/bulk/template.csv", get(template)),
        Route::new("GET", "/console/bulk/{id}", get(detail)),
        Route::new("POST", "/console/bulk/{id}/token", post(token)),
        Route::new("GET", "/console/bulk/{id}/qr.png", get(qr_png)),
        Route::new("GET", "/console/bulk/{id}/qr.svg", get(qr_svg)),
        Route::new("GET", "/console/bulk/{id}/devices.csv", get(inventory)),
        Route::new("POST", "/console/bulk/{id}/csv", post(upload)),
        Route::new("POST", "/console/bulk/{id}/devices", post(add_device)),
        Route::new("POST", "/console/bulk/{id}/devices/edit", post(edit_device)),
        Route::new("POST", "/console/bulk/{id}/devices/selected", post(selected)),
        Route::new("POST", "/console/bulk/{id}/config", post(config)),
        Route::new("POST", "/console/bulk/{id}/delete", post(delete)),
    ]
}

pub(super) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `name=value` lines into a map (blank lines skipped; a line without `=` is refused).
fn pairs(text: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| ApiError::bad_request(format!("line {} must be name=value", n + 1)))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn lines_of(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn days_of(form: &Form) -> Result<Option<u32>, ApiError> {
    match form.get("days") {
        None => Ok(None),
        Some(d) => d
            .parse::<u32>()
            .map(Some)
            .map_err(|_| ApiError::bad_request("days must be a number from 7 to 999")),
    }
}

async fn list(State(core): State<AppState>, headers: HeaderMap) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let list = match blocking(core.clone(), |s| BulkService(s).list_bulk_profiles()).await {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let rows: String = list
        .iter()
        .map(|p| {
            format!(
                "<tr><td><a href=\"/console/bulk/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                enc(&p.id),
                esc(&p.name),
                esc(&p.description),
                match p.kind {
                    BulkProfileKind::SelfMaintained => l.t("self-maintained", "auto-entretien"),
                    BulkProfileKind::SamsungKme => "Samsung KME",
                },
                p.device_count,
                esc(p.user.as_deref().unwrap_or("—")),
                fmt_time(p.modified_at)
            )
        })
        .collect();
    let body = format!(
        "<div class=\"table\"><table id=\"profiles\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table></div>\
<p><a href=\"/console/bulk/template.csv\" download>{}</a></p>\
<h2>{}</h2><div class=\"card\"><form method=\"post\" action=\"/console/bulk\">{}\
<label for=\"name\">{}</label><input type=\"text\" id=\"name\" name=\"name\" required>\
<label for=\"description\">{}</label><input type=\"text\" id=\"description\" name=\"description\">\
<label for=\"kind\">{}</label><select id=\"kind\" name=\"kind\"><option value=\"self\">{}</option><option value=\"kme\">Samsung KME</option></select>\
<label for=\"user\">{}</label><input type=\"email\" id=\"user\" name=\"user\">\
<label for=\"days\">{}</label><input type=\"number\" id=\"days\" name=\"days\" min=\"7\" max=\"999\" value=\"7\">\
<label class=\"check\"><input type=\"checkbox\" name=\"never\" value=\"1\"> {}</label><br>\
<label class=\"check\"><input type=\"checkbox\" name=\"tokenless\" value=\"1\"> {}</label><br>\
<button type=\"submit\" id=\"create-profile\">{}</button></form></div>",
        l.t("Name", "Nom"),
        l.t("Description", "Description"),
        l.t("Type", "Type"),
        l.t("Devices", "Appareils"),
        l.t("User", "Utilisateur"),
        l.t("Modified", "Modifié"),
        l.t("Download the CSV template", "Télécharger le modèle CSV"),
        l.t("New profile", "Nouveau profil"),
        adm.csrf(),
        l.t("Name", "Nom"),
        l.t("Description", "Description"),
        l.t("Type", "Type"),
        l.t("Self-maintained", "Auto-entretien"),
        l.t("Associated user (e-mail, optional)", "Utilisateur associé (e-mail, facultatif)"),
        l.t("Token validity, days (7 to 999)", "Validité du jeton, jours (7 à 999)"),
        l.t("The token never expires", "Le jeton n'expire jamais"),
        l.t("Assign custom attributes without token (tokenless)", "Attribuer des attributs personnalisés sans jeton"),
        l.t("Create profile", "Créer le profil"),
    );
    frame(
        &core,
        &adm,
        l,
        l.t("Bulk enrollment profiles", "Profils d'inscription en masse"),
        "/console/bulk",
        body,
    )
    .into_response()
}

async fn create(State(core): State<AppState>, headers: HeaderMap, form: Form) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let days = match days_of(&form) {
        Ok(d) => d,
        Err(e) => return error_page(l, &e),
    };
    let req = CreateBulkProfileRequest {
        name: form.get("name").unwrap_or_default().to_string(),
        description: form.get("description").unwrap_or_default().to_string(),
        kind: if form.get("kind") == Some("kme") {
            BulkProfileKind::SamsungKme
        } else {
            BulkProfileKind::SelfMaintained
        },
        user: form.get("user").map(str::to_string),
        tokenless: form.checked("tokenless"),
        token_days: days,
        never_expires: form.checked("never"),
        config: BulkProfileConfig::default(),
    };
    match blocking(core.clone(), move |s| BulkService(s).create_bulk_profile(&req)).await {
        Ok(d) => {
            flash(&core, &adm, l.t("Profile created.", "Profil créé."));
            redirect(&format!("/console/bulk/{}", enc(&d.profile.id)))
        }
        Err(e) => error_page(l, &e),
    }
}

async fn template(State(core): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = admin(&core, &headers) {
        return r;
    }
    download(
        crate::bulk::template(),
        "text/csv; charset=utf-8",
        "bulk-enrollment-template.csv",
    )
}

async fn detail(State(core): State<AppState>, headers: HeaderMap, PathParam(id): PathParam) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin(&core, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let pid = id.clone();
    let loaded = blocking(core.clone(), move |s| {
        let b = BulkService(s);
        Ok((
            b.bulk_profile(&pid)?,
            b.list_bulk_devices(&pid, 0, PAGE_DEVICES)?,
            b.list_bulk_profiles()?,
        ))
    })
    .await;
    let (d, devices, all) = match loaded {
        Ok(v) => v,
        Err(e) => return error_page(l, &e),
    };
    let p = &d.profile;
    let base = format!("/console/bulk/{}", enc(&p.id));
    let kme = p.kind == BulkProfileKind::SamsungKme;
    let mut b = String::new();
    b.push_str(&format!(
        "<div class=\"card\"><p>{}</p><p>{} {} · {} {} · {} {}</p>{}</div>",
        esc(&p.description),
        l.t("Devices:", "Appareils :"),
        p.device_count,
        l.t("enrolled", "inscrits"),
        d.enrolled_devices,
        l.t("pending", "en attente"),
        d.pending_devices,
        d.sync_status
            .as_ref()
            .map(|s| format!(
                "<p id=\"sync-status\">{} {} {}</p>",
                l.t("Sync status:", "État de synchronisation :"),
                esc(s),
                d.last_sync_at.map(fmt_time).unwrap_or_default()
            ))
            .unwrap_or_default()
    ));
    // Token.
    if let Some(t) = &d.token {
        b.push_str(&format!(
            "<h2>{}</h2><div class=\"card\"><p><span class=\"secret\" id=\"token\">{}</span></p><p id=\"token-expiry\">{} {}</p>\
<form method=\"post\" action=\"{base}/token\">{}<label for=\"days\">{}</label><input type=\"number\" id=\"days\" name=\"days\" min=\"7\" max=\"999\" value=\"7\">\
<label class=\"check\"><input type=\"checkbox\" name=\"never\" value=\"1\" id=\"never\"> {}</label><br>\
<button type=\"submit\" name=\"action\" value=\"refresh\" id=\"refresh\">{}</button><button type=\"submit\" name=\"action\" value=\"extend\" class=\"quiet\" id=\"extend\">{}</button></form></div>",
            l.t("Enrollment token", "Jeton d'inscription"),
            esc(t.expose()),
            l.t("Expires:", "Expire :"),
            d.token_expires_at.map(fmt_time).unwrap_or_else(|| l.t("never", "jamais").into()),
            adm.csrf(),
            l.t("Validity from now, days (7 to 999)", "Validité à partir de maintenant, jours (7 à 999)"),
            l.t("Never expires", "N'expire jamais"),
            l.t("Refresh (new token)", "Renouveler (nouveau jeton)"),
            l.t("Extend (same token)", "Prolonger (même jeton)"),
        ));
    }
    if !p.default_kme {
        b.push_str(&format!(
            "<h2>{}</h2><div class=\"card\"><img class=\"qr\" id=\"qr\" src=\"{base}/qr.png\" alt=\"QR\" width=\"320\" height=\"320\">\
<p><a class=\"button quiet\" href=\"{base}/qr.png\" download=\"enroll-qr.png\" id=\"qr-png\">PNG</a> <a class=\"button quiet\" href=\"{base}/qr.svg\" download=\"enroll-qr.svg\">SVG</a></p></div>",
            l.t("Provisioning QR code", "Code QR de provisionnement"),
        ));
    }
    // Inventory.
    b.push_str(&format!(
        "<h2>{}</h2><p><a class=\"button quiet\" href=\"{base}/devices.csv\" download id=\"inventory\">{}</a></p>",
        l.t("Devices", "Appareils"),
        l.t("Download the inventory (CSV)", "Télécharger l'inventaire (CSV)")
    ));
    if !kme {
        b.push_str(&format!(
            "<div class=\"card\"><form data-upload method=\"post\" action=\"{base}/csv\" {} {} {} {} {}>{}\
<label for=\"csv\">{}</label><input type=\"file\" id=\"csv\" name=\"csv\" accept=\".csv,text/csv\" required>\
<button type=\"submit\" id=\"upload\">{}</button><progress id=\"progress\" max=\"100\" value=\"0\" hidden></progress><output id=\"upload-result\"></output></form></div>",
            attr("data-msg-sending", l.t("Sending…", "Envoi…")),
            attr("data-msg-checking", l.t("Checking every line…", "Vérification de chaque ligne…")),
            attr("data-msg-network", l.t("The upload failed: check the connection and retry.", "L'envoi a échoué : vérifiez la connexion et réessayez.")),
            attr("data-msg-line", l.t("Line", "Ligne")),
            attr("data-msg-reload", l.t("Show the devices", "Afficher les appareils")),
            adm.csrf(),
            l.t("Upload a CSV file (all or nothing: a file with a bad line imports nothing)", "Téléverser un fichier CSV (tout ou rien : un fichier avec une ligne fausse n'importe rien)"),
            l.t("Upload", "Téléverser"),
        ));
    }
    let others: String = all
        .iter()
        .filter(|o| o.kind == BulkProfileKind::SamsungKme && o.id != p.id)
        .map(|o| format!("<option {}>{}</option>", attr("value", &o.id), esc(&o.name)))
        .collect();
    let rows: String = devices
        .iter()
        .map(|dv| {
            format!(
                "<tr><td><label class=\"check\"><input type=\"checkbox\" name=\"device\" value=\"{}\" form=\"selection\"> {}</label></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                dv.id,
                dv.id,
                esc(dv.imei.as_deref().unwrap_or("")),
                esc(dv.serial.as_deref().unwrap_or("")),
                esc(dv.manufacturer.as_deref().unwrap_or("")),
                esc(&lines_of(&dv.attributes).replace('\n', ", ")),
                dv.enrolled_at.map(fmt_time).unwrap_or_else(|| "—".into()),
            )
        })
        .collect();
    let mut ops = format!(
        "<button type=\"submit\" name=\"op\" value=\"delete\" class=\"danger\" id=\"delete-selected\">{}</button>",
        l.t("Delete selected", "Supprimer la sélection")
    );
    if kme {
        ops.push_str(&format!(
            "<label for=\"to_profile\">{}</label><select id=\"to_profile\" name=\"to_profile\">{others}</select>\
<button type=\"submit\" name=\"op\" value=\"move\" id=\"move-selected\">{}</button><button type=\"submit\" name=\"op\" value=\"unassign\" class=\"quiet\" id=\"unassign-selected\">{}</button>",
            l.t("Move to the KME profile", "Déplacer vers le profil KME"),
            l.t("Move selected", "Déplacer la sélection"),
            l.t("Unassign selected", "Désaffecter la sélection"),
        ));
    }
    b.push_str(&format!(
        "<div class=\"table\"><table id=\"bulk-devices\"><thead><tr><th><input type=\"checkbox\" data-select-all=\"device\" aria-label=\"all\"></th><th>IMEI</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{rows}</tbody></table></div>\
<form method=\"post\" action=\"{base}/devices/selected\" id=\"selection\">{}{ops}</form>",
        l.t("Serial number", "Numéro de série"),
        l.t("Manufacturer", "Fabricant"),
        l.t("Attributes", "Attributs"),
        l.t("Enrolled", "Inscrit"),
        adm.csrf(),
    ));
    if !kme {
        let device_form = |action: &str, title: &str, with_id: bool, button: &str, bid: &str| {
            format!(
                "<div class=\"card\"><h2>{}</h2><form method=\"post\" action=\"{base}/devices{action}\">{}{}\
<label>IMEI</label><input type=\"text\" name=\"imei\" inputmode=\"numeric\"><label>{}</label><input type=\"text\" name=\"serial\">\
<label>{}</label><input type=\"text\" name=\"manufacturer\"><label>{}</label><textarea name=\"attributes\"></textarea>\
<button type=\"submit\" id=\"{bid}\">{}</button></form></div>",
                esc(title),
                adm.csrf(),
                if with_id {
                    format!("<label>{}</label><input type=\"number\" name=\"id\" required>", l.t("Device number (first column of the inventory)", "Numéro de l'appareil (première colonne de l'inventaire)"))
                } else {
                    String::new()
                },
                l.t("Serial number", "Numéro de série"),
                l.t("Manufacturer", "Fabricant"),
                l.t("Custom attributes, one name=value per line", "Attributs personnalisés, un nom=valeur par ligne"),
                esc(button)
            )
        };
        b.push_str(&device_form(
            "",
            l.t("Add a device", "Ajouter un appareil"),
            false,
            l.t("Add", "Ajouter"),
            "add-device",
        ));
        b.push_str(&device_form(
            "/edit",
            l.t("Edit a device", "Modifier un appareil"),
            true,
            l.t("Save", "Enregistrer"),
            "edit-device",
        ));
    }
    // Configuration.
    b.push_str(&format!(
        "<h2>{}</h2><div class=\"card\"><form method=\"post\" action=\"{base}/config\">{}\
<label>{}</label><input type=\"text\" name=\"name\" {}><label>{}</label><input type=\"text\" name=\"description\" {}>\
<label>{}</label><input type=\"email\" name=\"user\" {}>\
<label>{}</label><textarea name=\"product_keys\">{}</textarea><label>{}</label><textarea name=\"attributes\">{}</textarea>\
<label>{}</label><input type=\"text\" name=\"locale\" {}><label>{}</label><input type=\"text\" name=\"time_zone\" {}>\
<button type=\"submit\" id=\"save-config\">{}</button></form></div>\
<form method=\"post\" action=\"{base}/delete\" {}>{}<button type=\"submit\" class=\"danger\" id=\"delete-profile\">{}</button></form>",
        l.t("Configuration", "Configuration"),
        adm.csrf(),
        l.t("Name", "Nom"),
        attr("value", &p.name),
        l.t("Description", "Description"),
        attr("value", &p.description),
        l.t("Associated user (empty: none)", "Utilisateur associé (vide : aucun)"),
        attr("value", p.user.as_deref().unwrap_or("")),
        l.t("Product keys (enroll.KEY=value per line)", "Clés produit (enroll.CLÉ=valeur par ligne)"),
        esc(&lines_of(&d.config.product_keys)),
        l.t("Custom attributes (name=value per line)", "Attributs personnalisés (nom=valeur par ligne)"),
        esc(&lines_of(&d.config.attributes)),
        l.t("Locale (e.g. fr_FR)", "Langue (ex. fr_FR)"),
        attr("value", d.config.system_extras.locale.as_deref().unwrap_or("")),
        l.t("Time zone (e.g. Europe/Paris)", "Fuseau horaire (ex. Europe/Paris)"),
        attr("value", d.config.system_extras.time_zone.as_deref().unwrap_or("")),
        l.t("Save configuration", "Enregistrer la configuration"),
        attr("data-confirm", l.t("Delete this profile and its devices?", "Supprimer ce profil et ses appareils ?")),
        adm.csrf(),
        l.t("Delete profile", "Supprimer le profil"),
    ));
    frame(&core, &adm, l, &p.name, &base, b).into_response()
}

/// Checks the admin form and runs `f` on the blocking pool; on success a message for the
/// profile page, on failure the error page.
async fn act<T: Send + 'static>(
    core: AppState,
    headers: HeaderMap,
    form: &Form,
    id: &str,
    f: impl FnOnce(&crate::state::Shared) -> Result<T, ApiError> + Send + 'static,
    done: impl FnOnce(Lang, T) -> String,
) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match blocking(core.clone(), f).await {
        Ok(v) => {
            flash(&core, &adm, &done(l, v));
            redirect(&format!("/console/bulk/{}", enc(id)))
        }
        Err(e) => error_page(l, &e),
    }
}

async fn token(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let days = match days_of(&form) {
        Ok(d) => d,
        Err(e) => return error_page(Lang::of(&headers), &e),
    };
    let req = BulkTokenRequest {
        action: if form.get("action") == Some("extend") {
            BulkTokenAction::Extend
        } else {
            BulkTokenAction::Refresh
        },
        days,
        never_expires: form.checked("never"),
    };
    let pid = id.clone();
    act(
        core,
        headers,
        &form,
        &id,
        move |s| BulkService(s).bulk_token(&pid, &req),
        |l, t| {
            let when = t
                .expires_at
                .map(fmt_time)
                .unwrap_or_else(|| l.t("never", "jamais").into());
            format!(
                "{} {when}",
                l.t("Token saved. Expires:", "Jeton enregistré. Expire :")
            )
        },
    )
    .await
}

async fn qr(core: AppState, headers: HeaderMap, id: String, format: crate::qr::ImageFormat) -> Response {
    let l = Lang::of(&headers);
    if let Err(r) = admin(&core, &headers) {
        return r;
    }
    match blocking(core, move |s| {
        BulkService(s).bulk_qr(&id, format, crate::qr::DEFAULT_SCALE)
    })
    .await
    {
        Ok(bytes) => image(bytes, format),
        Err(e) => error_page(l, &e),
    }
}

async fn qr_png(State(core): State<AppState>, headers: HeaderMap, PathParam(id): PathParam) -> Response {
    qr(core, headers, id, crate::qr::ImageFormat::Png).await
}

async fn qr_svg(State(core): State<AppState>, headers: HeaderMap, PathParam(id): PathParam) -> Response {
    qr(core, headers, id, crate::qr::ImageFormat::Svg).await
}

async fn inventory(State(core): State<AppState>, headers: HeaderMap, PathParam(id): PathParam) -> Response {
    let l = Lang::of(&headers);
    if let Err(r) = admin(&core, &headers) {
        return r;
    }
    match blocking(core, move |s| BulkService(s).export_bulk_csv(&id)).await {
        Ok(bytes) => download(bytes, "text/csv; charset=utf-8", "bulk-devices.csv"),
        Err(e) => error_page(l, &e),
    }
}

async fn upload(
    _: AdminXhr,
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    file: CsvUpload,
) -> Response {
    let l = Lang::of(&headers);
    let result = blocking(core, move |s| {
        BulkService(s).import_bulk_csv(&id, &file.path, false, None)
    })
    .await;
    upload_reply(l, result)
}

fn device_input(form: &Form) -> Result<BulkDeviceInput, ApiError> {
    Ok(BulkDeviceInput {
        imei: form.get("imei").map(str::to_string),
        serial: form.get("serial").map(str::to_string),
        manufacturer: form.get("manufacturer").map(str::to_string),
        attributes: pairs(form.raw("attributes").unwrap_or_default())?,
    })
}

async fn add_device(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let input = match device_input(&form) {
        Ok(i) => i,
        Err(e) => return error_page(Lang::of(&headers), &e),
    };
    let pid = id.clone();
    let req = AddBulkDevicesRequest { devices: vec![input] };
    act(
        core,
        headers,
        &form,
        &id,
        move |s| {
            let r = BulkService(s).add_bulk_devices(&pid, &req)?;
            if r.error_count > 0 {
                let why = r.errors.first().map(|e| e.reason.clone()).unwrap_or_default();
                return Err(ApiError::bad_request(format!("the device was not added: {why}")));
            }
            Ok(r)
        },
        |l, _| l.t("Device added.", "Appareil ajouté.").into(),
    )
    .await
}

async fn edit_device(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let l = Lang::of(&headers);
    let parsed = device_input(&form).and_then(|i| {
        let dev = form
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| ApiError::bad_request("the device number is required"))?;
        Ok(BulkDeviceEdit {
            id: dev,
            imei: i.imei,
            serial: i.serial,
            manufacturer: i.manufacturer,
            attributes: i.attributes,
        })
    });
    let edit = match parsed {
        Ok(e) => e,
        Err(e) => return error_page(l, &e),
    };
    let pid = id.clone();
    let req = EditBulkDevicesRequest { devices: vec![edit] };
    act(
        core,
        headers,
        &form,
        &id,
        move |s| BulkService(s).edit_bulk_devices(&pid, &req),
        |l, _| l.t("Device saved.", "Appareil enregistré.").into(),
    )
    .await
}

async fn selected(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let ids: Vec<i64> = form.all("device").iter().filter_map(|v| v.parse().ok()).collect();
    let op = form.get("op").unwrap_or_default().to_string();
    let to = form.get("to_profile").unwrap_or_default().to_string();
    let pid = id.clone();
    act(
        core,
        headers,
        &form,
        &id,
        move |s| match op.as_str() {
            "delete" => BulkService(s).delete_bulk_devices(&pid, &DeviceIdsRequest { device_ids: ids }),
            "move" => KmeService(s).move_bulk_devices(
                &pid,
                &MoveDevicesRequest {
                    device_ids: ids,
                    to_profile: to,
                },
            ),
            "unassign" => KmeService(s).unassign_bulk_devices(&pid, &DeviceIdsRequest { device_ids: ids }),
            _ => Err(ApiError::bad_request("choose delete, move or unassign")),
        },
        |l, r| {
            format!(
                "{} {}",
                r.affected,
                l.t("device(s) changed.", "appareil(s) modifié(s).")
            )
        },
    )
    .await
}

async fn config(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let l = Lang::of(&headers);
    let (keys, attributes) = match (
        pairs(form.raw("product_keys").unwrap_or_default()),
        pairs(form.raw("attributes").unwrap_or_default()),
    ) {
        (Ok(k), Ok(a)) => (k, a),
        (Err(e), _) | (_, Err(e)) => return error_page(l, &e),
    };
    let pid = id.clone();
    let user = form.get("user").map(str::to_string);
    let name = form.get("name").map(str::to_string);
    let description = Some(form.get("description").unwrap_or_default().to_string());
    let locale = form.get("locale").map(str::to_string);
    let time_zone = form.get("time_zone").map(str::to_string);
    act(
        core,
        headers,
        &form,
        &id,
        move |s| {
            let svc = BulkService(s);
            let mut config = svc.bulk_profile(&pid)?.config;
            config.product_keys = keys;
            config.attributes = attributes;
            config.system_extras.locale = locale;
            config.system_extras.time_zone = time_zone;
            let req = UpdateBulkProfileRequest {
                name,
                description,
                clear_user: user.is_none(),
                user,
                tokenless: None,
                config: Some(config),
            };
            svc.update_bulk_profile(&pid, &req)
        },
        |l, _| l.t("Configuration saved.", "Configuration enregistrée.").into(),
    )
    .await
}

async fn delete(
    State(core): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam,
    form: Form,
) -> Response {
    let l = Lang::of(&headers);
    let adm = match admin_post(&core, &headers, Some(&form)) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match blocking(core.clone(), move |s| BulkService(s).delete_bulk_profile(&id)).await {
        Ok(()) => {
            flash(&core, &adm, l.t("Profile deleted.", "Profil supprimé."));
            redirect("/console/bulk")
        }
        Err(e) => error_page(l, &e),
    }
}
