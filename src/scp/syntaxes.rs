//! What the receiver negotiates: the abstract syntaxes (SOP classes) and
//! transfer syntaxes it accepts in presentation contexts (PS3.8 §7.1.1.13).
//!
//! Only the data set header is ever read, so every transfer syntax whose
//! data set encoding dicom-rs can parse is acceptable, whatever its pixel
//! data compression: encapsulated pixel data is skipped, never decoded.

use dicom_dictionary_std::uids;

/// Verification SOP class (C-ECHO, PS3.4 Annex A).
pub const VERIFICATION: &str = uids::VERIFICATION;

/// The storage SOP classes accepted (PS3.4 Annex B, Table B.5-1): the image
/// classes of the common modalities (CT, MR, CR, DX, MG, IO, US, NM, PET,
/// XA/XRF, SC, VL, ophthalmic), their enhanced and legacy-converted forms,
/// radiotherapy objects, and the non-image objects that travel with studies
/// (presentation states, key objects, SR, segmentations, registrations,
/// encapsulated PDF, raw data, waveforms). Every storage class dcmtk's
/// `storescu` proposes by default is on the list.
// Retired classes are still sent by older ultrasound and NM devices.
#[allow(deprecated)]
pub const STORAGE_SOP_CLASSES: &[&str] = &[
    // CT
    uids::CT_IMAGE_STORAGE,
    uids::ENHANCED_CT_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE,
    // MR
    uids::MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_COLOR_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE,
    uids::MR_SPECTROSCOPY_STORAGE,
    // Projection radiography and mammography
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::DIGITAL_INTRA_ORAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_INTRA_ORAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::BREAST_TOMOSYNTHESIS_IMAGE_STORAGE,
    uids::BREAST_PROJECTION_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::BREAST_PROJECTION_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    // Angiography and fluoroscopy
    uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::ENHANCED_XA_IMAGE_STORAGE,
    uids::X_RAY_RADIOFLUOROSCOPIC_IMAGE_STORAGE,
    uids::ENHANCED_XRF_IMAGE_STORAGE,
    uids::X_RAY3_D_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::X_RAY3_D_CRANIOFACIAL_IMAGE_STORAGE,
    // Ultrasound (the retired classes are still sent by older devices)
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::ULTRASOUND_IMAGE_STORAGE_RETIRED,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE_RETIRED,
    uids::ENHANCED_US_VOLUME_STORAGE,
    // Nuclear medicine and PET
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE_RETIRED,
    uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
    uids::ENHANCED_PET_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE,
    // Secondary capture
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    // Visible light and ophthalmology
    uids::VL_ENDOSCOPIC_IMAGE_STORAGE,
    uids::VL_MICROSCOPIC_IMAGE_STORAGE,
    uids::VL_SLIDE_COORDINATES_MICROSCOPIC_IMAGE_STORAGE,
    uids::VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    uids::VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE,
    uids::OPHTHALMIC_PHOTOGRAPHY8_BIT_IMAGE_STORAGE,
    uids::OPHTHALMIC_PHOTOGRAPHY16_BIT_IMAGE_STORAGE,
    uids::OPHTHALMIC_TOMOGRAPHY_IMAGE_STORAGE,
    uids::STEREOMETRIC_RELATIONSHIP_STORAGE,
    // Radiotherapy
    uids::RT_IMAGE_STORAGE,
    uids::RT_DOSE_STORAGE,
    uids::RT_STRUCTURE_SET_STORAGE,
    uids::RT_PLAN_STORAGE,
    uids::RT_ION_PLAN_STORAGE,
    uids::RT_BEAMS_TREATMENT_RECORD_STORAGE,
    uids::RT_BRACHY_TREATMENT_RECORD_STORAGE,
    uids::RT_TREATMENT_SUMMARY_RECORD_STORAGE,
    uids::RT_ION_BEAMS_TREATMENT_RECORD_STORAGE,
    // Derived and non-image objects stored with a study
    uids::SEGMENTATION_STORAGE,
    uids::PARAMETRIC_MAP_STORAGE,
    uids::REAL_WORLD_VALUE_MAPPING_STORAGE,
    uids::SPATIAL_REGISTRATION_STORAGE,
    uids::DEFORMABLE_SPATIAL_REGISTRATION_STORAGE,
    uids::SPATIAL_FIDUCIALS_STORAGE,
    uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    uids::COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    uids::PSEUDO_COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    uids::BLENDING_SOFTCOPY_PRESENTATION_STATE_STORAGE,
    uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE,
    uids::BASIC_TEXT_SR_STORAGE,
    uids::ENHANCED_SR_STORAGE,
    uids::COMPREHENSIVE_SR_STORAGE,
    uids::COMPREHENSIVE3_DSR_STORAGE,
    uids::X_RAY_RADIATION_DOSE_SR_STORAGE,
    uids::MAMMOGRAPHY_CADSR_STORAGE,
    uids::CHEST_CADSR_STORAGE,
    uids::COLON_CADSR_STORAGE,
    uids::PROCEDURE_LOG_STORAGE,
    uids::ENCAPSULATED_PDF_STORAGE,
    uids::RAW_DATA_STORAGE,
    // Waveforms (PS3.3 A.34)
    uids::TWELVE_LEAD_ECG_WAVEFORM_STORAGE,
    uids::GENERAL_ECG_WAVEFORM_STORAGE,
    uids::AMBULATORY_ECG_WAVEFORM_STORAGE,
    uids::HEMODYNAMIC_WAVEFORM_STORAGE,
    uids::CARDIAC_ELECTROPHYSIOLOGY_WAVEFORM_STORAGE,
    uids::BASIC_VOICE_AUDIO_WAVEFORM_STORAGE,
];

/// The transfer syntaxes accepted (PS3.5 §10 and Annex A), in no order of
/// preference: the requestor's order decides (the first proposed syntax of
/// a presentation context that is on this list is chosen).
// Explicit VR Big Endian is retired (PS3.5 A.3) but still proposed.
#[allow(deprecated)]
pub const TRANSFER_SYNTAXES: &[&str] = &[
    // Native (uncompressed) encodings, PS3.5 A.1, A.2, A.3 (retired but
    // still sent), A.5 (deflated data set).
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_BIG_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::ENCAPSULATED_UNCOMPRESSED_EXPLICIT_VR_LITTLE_ENDIAN,
    // Encapsulated pixel data, PS3.5 A.4: the data set itself is explicit
    // VR little endian, only the pixel data is compressed.
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEGLS_LOSSLESS,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::JPEG2000MC_LOSSLESS,
    uids::JPEG2000MC,
    uids::HTJ2K_LOSSLESS,
    uids::HTJ2K_LOSSLESS_RPCL,
    uids::HTJ2K,
    uids::RLE_LOSSLESS,
];

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_transfer_syntax_registry::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

    #[test]
    fn every_transfer_syntax_is_readable_by_the_registry() {
        // dicom-ul only accepts a transfer syntax that the registry can
        // parse; one that is listed but unreadable would be refused.
        for uid in TRANSFER_SYNTAXES {
            let ts = TransferSyntaxRegistry.get(uid);
            assert!(ts.is_some(), "{uid} is not in the registry");
            assert!(
                ts.is_some_and(|ts| !ts.is_unsupported()),
                "{uid} cannot be parsed"
            );
            assert!(dicom_ul::association::server::is_supported(uid));
        }
    }

    #[test]
    fn the_common_modalities_are_accepted() {
        for uid in [
            "1.2.840.10008.5.1.4.1.1.2",     // CT
            "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT
            "1.2.840.10008.5.1.4.1.1.4",     // MR
            "1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR
            "1.2.840.10008.5.1.4.1.1.1",     // CR
            "1.2.840.10008.5.1.4.1.1.1.1",   // DX
            "1.2.840.10008.5.1.4.1.1.6.1",   // US
            "1.2.840.10008.5.1.4.1.1.20",    // NM
            "1.2.840.10008.5.1.4.1.1.128",   // PET
            "1.2.840.10008.5.1.4.1.1.7",     // SC
            "1.2.840.10008.5.1.4.1.1.481.1", // RT Image
        ] {
            assert!(STORAGE_SOP_CLASSES.contains(&uid), "{uid}");
        }
        // No duplicates: each class is proposed once.
        let mut sorted = STORAGE_SOP_CLASSES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), STORAGE_SOP_CLASSES.len());
    }
}
